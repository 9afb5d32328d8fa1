"""The outbox applies per-item results on the real SQLite file: an ack is final."""

from __future__ import annotations

import json

from agent.adapters.store.database import AgentDatabase
from agent.adapters.store.outbox import SqliteOutbox
from sync.results import ItemOutcome
from tests.integration.agent.sync_fixtures import DEVICE, AgentDb, record_sales

_REJECTED = json.dumps({"code": "merchant_ref_id_in_use", "message": "in use"})


async def _rows(store: AgentDb) -> dict[str, tuple[str, str | None, str | None]]:
    sql = "SELECT local_id, sync_state, cloud_intent_id, sync_error FROM sales"
    async with store.conn.execute(sql) as cur:
        return {r[0]: (r[1], r[2], r[3]) for r in await cur.fetchall()}


class TestAckIsFinal:
    async def test_a_late_rejection_never_overwrites_an_ack(self, agent_store: AgentDb,
                                                           outbox: SqliteOutbox) -> None:
        """Two uploaders on one database (the running agent and `mpac-agent sync --now` in its own process):
        the first acks an item; the other's late answer rejects it; the item stays acked with its pi id."""
        await record_sales(agent_store, 2)
        first = (await outbox.claim(10, 1 << 20))[0].local_id
        other_db = await AgentDatabase.open(agent_store.path)
        try:
            other = SqliteOutbox(other_db, DEVICE.device_id)
            await other.reset_sending()  # the other process starts: `sending` is a crash marker to it
            await other.claim(10, 1 << 20)
            await other.apply_results([ItemOutcome(first, "acked", "pi_first")], [], 1, 0)
        finally:
            await other_db.close()
        await outbox.apply_results([ItemOutcome(first, "rejected", None, _REJECTED)], [], 2, 0)
        assert (await _rows(agent_store))[first] == ("acked", "pi_first", None)
        status = await outbox.status()
        assert status["quarantined_count"] == 0

    async def test_a_rejection_of_an_unacked_item_quarantines_it(self, agent_store: AgentDb,
                                                                outbox: SqliteOutbox) -> None:
        """The same rejection of an item in `sending` quarantines it with the cloud's error."""
        await record_sales(agent_store, 1)
        (item,) = await outbox.claim(10, 1 << 20)
        await outbox.apply_results([ItemOutcome(item.local_id, "rejected", None, _REJECTED)], [], 2, 0)
        assert (await _rows(agent_store))[item.local_id] == ("rejected", None, _REJECTED)
