"""Agent shutdown while the outbox commits: the cancellation must reach the uploader's monitor loop."""

from __future__ import annotations

import asyncio

import pytest

from agent.adapters.store.outbox import SqliteOutbox
from tests.integration.agent.sync_fixtures import AgentDb, record_sales


class TestCancelledCommit:
    async def test_cancelled_claim_stays_a_cancellation_and_commits(
        self, agent_store: AgentDb, outbox: SqliteOutbox
    ) -> None:
        """A claim whose await is cancelled (agent shutdown) raises CancelledError; its unit still commits
        on the writer, and reset_sending re-queues the items it marked `sending` at the next start."""
        await record_sales(agent_store, 3)
        task = asyncio.create_task(outbox.claim(2, 1 << 20))
        await asyncio.sleep(0)  # the claim is queued on the writer
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await outbox._db.writer.run(lambda _conn: None)  # the writer has run everything queued before
        async with agent_store.conn.execute(
                "SELECT sync_state, COUNT(*) FROM sales GROUP BY sync_state ORDER BY sync_state") as cur:
            states = await cur.fetchall()
        assert [tuple(r) for r in states] == [("queued", 1), ("sending", 2)]  # the claim did commit
        assert await outbox.reset_sending() == 2
