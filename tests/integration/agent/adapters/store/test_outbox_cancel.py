"""Agent shutdown while the outbox commits: the cancellation must reach the uploader's monitor loop."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agent.adapters.store.outbox import SqliteOutbox
from tests.integration.agent.sync_fixtures import AgentDb, record_sales


class TestCancelledCommit:
    async def test_cancel_after_commit_finished_stays_a_cancellation(
        self, agent_store: AgentDb, outbox: SqliteOutbox
    ) -> None:
        """A COMMIT still running on the DB thread when its await is cancelled surfaces as CancelledError."""
        await record_sales(agent_store, 3)
        conn: Any = outbox._conn
        real_execute = conn.execute
        running: list[asyncio.Future[Any]] = []

        def commit_then_cancelled(sql: str, *args: Any) -> Any:
            if sql != "COMMIT":
                return real_execute(sql, *args)

            async def commit() -> None:
                # The COMMIT is queued to the connection's thread (FIFO) and runs on; the awaiting task is
                # cancelled meanwhile, as at agent shutdown. Any ROLLBACK queued now runs after the COMMIT.
                running.append(asyncio.ensure_future(real_execute(sql, *args)))
                await asyncio.sleep(0)
                raise asyncio.CancelledError

            return commit()

        conn.execute = commit_then_cancelled
        try:
            with pytest.raises(asyncio.CancelledError):
                await outbox.claim(2, 1 << 20)
        finally:
            conn.execute = real_execute
            await asyncio.gather(*running)
        async with agent_store.conn.execute(
                "SELECT sync_state, COUNT(*) FROM sales GROUP BY sync_state ORDER BY sync_state") as cur:
            states = await cur.fetchall()
        assert [tuple(r) for r in states] == [("queued", 1), ("sending", 2)]  # the claim did commit
