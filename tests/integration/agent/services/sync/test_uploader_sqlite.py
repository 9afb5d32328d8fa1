"""Uploader + SqliteOutbox + SyncClient against the real cloud (cloud/) on loopback, SQLite both ends.

Only TestStatusOnFailure's 5xx case uses the reference stand-in (sync.testing): the real cloud cannot be made
to answer a valid batch with a 503 on demand.
"""

from __future__ import annotations

import asyncio
import json
import time

import aiosqlite
import pytest

from agent.adapters.store.outbox import SqliteOutbox
from sync.batch import encode_batch, item_wire_bytes
from sync.errors import BatchRejected, TransientUploadError
from sync.testing import ChaosConfig, ChaosProxy
from sync.uploader import Uploader, UploaderConfig
from sync.wire import canonical_json, item_hash
from tests.integration.agent.sync_fixtures import (
    DEVICE,
    AgentDb,
    CloudUnderTest,
    RealCloud,
    make_client,
    record_sales,
)

FAST = UploaderConfig(interval=0.5, backoff_base=0.01, backoff_cap=0.2)


async def _agent_rows(store: AgentDb) -> dict[str, tuple[str, str | None]]:
    async with aiosqlite.connect(store.path) as conn:
        rows = await conn.execute_fetchall("SELECT local_id, sync_state, cloud_intent_id FROM sales")
    return {r[0]: (r[1], r[2]) for r in rows}


async def _drained(outbox: SqliteOutbox, limit: float = 30.0) -> None:
    async with asyncio.timeout(limit):
        while await outbox.pending_count():  # noqa: ASYNC110 -- polls the database; bounded by the timeout
            await asyncio.sleep(0.02)


async def _assert_exactly_once(store: AgentDb, cloud: RealCloud) -> None:
    rows = await _agent_rows(store)
    synced = await cloud.intents(cloud.device.device_id)
    assert len(synced) == len({lid for lid, _, _ in synced})
    assert {lid: pi for lid, pi, _ in synced} == {lid: pi for lid, (_, pi) in rows.items()}
    assert {state for state, _ in rows.values()} == {"acked"}


class TestUploaderWithSqlite:
    async def test_drain_exactly_once(self, agent_store: AgentDb, outbox: SqliteOutbox,
                                      cloud: RealCloud) -> None:
        """1,200 sales drain in FIFO batches; the cloud holds each once, the agent holds each pi id."""
        await record_sales(agent_store, 1200)
        client = make_client(cloud.url, cloud.device)
        result = await Uploader(outbox, client, cloud.device.device_id, FAST).drain()
        await client.close()
        assert (result.sent, result.acked, result.pending) == (1200, 1200, 0)
        assert await cloud.batches(cloud.device.device_id) == 3
        synced = await cloud.intents(cloud.device.device_id)
        assert [seq for _, _, seq in synced] == list(range(1, 1201))
        await _assert_exactly_once(agent_store, cloud)

    async def test_exactly_once_through_chaos(self, agent_store: AgentDb, outbox: SqliteOutbox,
                                             cloud: RealCloud) -> None:
        """Dropped connections and responses swallowed after the cloud committed still give exactly once."""
        proxy = ChaosProxy("127.0.0.1", cloud.port, ChaosConfig(drop=0.25, swallow=0.35, seed=20261125))
        port = await proxy.start()
        client = make_client(f"http://127.0.0.1:{port}", cloud.device)
        up = Uploader(outbox, client, cloud.device.device_id, UploaderConfig(interval=0.5, backoff_base=0.01,
                                                                       backoff_cap=0.1, max_items=40))
        task = asyncio.create_task(up.run())
        for burst in range(6):
            await record_sales(agent_store, 100, prefix=f"b{burst}")
            up.kick()
        await _drained(outbox)
        task.cancel()
        await client.close()
        await proxy.stop()
        assert proxy.stats.swallowed > 0 and proxy.stats.dropped > 0
        await _assert_exactly_once(agent_store, cloud)

    async def test_malformed_item_quarantined_rest_flow(self, agent_store: AgentDb, outbox: SqliteOutbox,
                                                       cloud: RealCloud) -> None:
        """An item the cloud rejects is quarantined with its reason; the other items are acked."""
        await record_sales(agent_store, 10)
        async with aiosqlite.connect(agent_store.path) as conn:
            (raw,) = next(iter(await conn.execute_fetchall("SELECT item_json FROM sales WHERE seq = 4")))
            item = json.loads(raw)
            item["intent"]["currency"] = "yen"
            await conn.execute("UPDATE sales SET item_json = ?, hash = ? WHERE seq = 4",
                               (canonical_json(item).decode(), item_hash(item["prev_hash"], item)))
            await conn.commit()
        client = make_client(cloud.url, cloud.device)
        result = await Uploader(outbox, client, cloud.device.device_id, FAST).drain()
        await client.close()
        assert (result.acked, result.rejected, result.pending) == (9, 1, 0)
        status = await outbox.status()
        assert status["quarantined_count"] == 1
        assert status["quarantined"][0]["error"]["param"] == "intent.currency"
        assert len(await cloud.intents(cloud.device.device_id)) == 9

    async def test_forged_signature_is_refused_and_nothing_moves(
            self, agent_store: AgentDb, outbox: SqliteOutbox, cloud: RealCloud) -> None:
        """A wrong secret gets 401; the items stay queued and the status shows the error."""
        await record_sales(agent_store, 5)
        client = make_client(cloud.url, cloud.device, secret="sk_forged")
        with pytest.raises(BatchRejected) as info:
            await Uploader(outbox, client, cloud.device.device_id, FAST).sync_once()
        await client.close()
        assert info.value.status == 401
        assert {s for s, _ in (await _agent_rows(agent_store)).values()} == {"queued"}
        status = await outbox.status()
        assert "401" in status["last_error"] and status["pending_count"] == 5
        assert await cloud.intents(cloud.device.device_id) == []

    async def test_restart_with_rows_in_sending(self, agent_store: AgentDb, outbox: SqliteOutbox,
                                                cloud: RealCloud) -> None:
        """Rows a crashed agent left in `sending` (the cloud already has them) are resent and acked once."""
        await record_sales(agent_store, 30)
        client = make_client(cloud.url, cloud.device)
        claimed = await outbox.claim(20, 1 << 20)  # marked sending, posted, then the agent died
        body = encode_batch("01CRASHED", cloud.device.device_id, int(time.time() * 1000),
                            [item_wire_bytes(it) for it in claimed])
        assert len((await client.send(body)).results) == 20
        before = {lid: pi for lid, pi, _ in await cloud.intents(cloud.device.device_id)}
        second = Uploader(outbox, client, cloud.device.device_id, FAST)
        task = asyncio.create_task(second.run())
        await _drained(outbox)
        task.cancel()
        await client.close()
        rows = await _agent_rows(agent_store)
        assert all(rows[lid][1] == pi for lid, pi in before.items())
        await _assert_exactly_once(agent_store, cloud)

    async def test_status_fields(self, agent_store: AgentDb, outbox: SqliteOutbox,
                                 cloud: RealCloud) -> None:
        """Pending count/amount and oldest before; last ack, clock offset, connected after."""
        await record_sales(agent_store, 3)
        before = await outbox.status()
        assert before["pending_count"] == 3 and before["pending_amount"] == {"JPY": 100 + 101 + 102}
        assert before["oldest_pending_at"] is not None and before["last_ack_at"] is None
        client = make_client(cloud.url, cloud.device)
        await Uploader(outbox, client, cloud.device.device_id, FAST).drain()
        await client.close()
        after = await outbox.status()
        assert after["pending_count"] == 0 and after["oldest_pending_at"] is None
        assert after["connected"] is True and after["last_ack_at"] is not None
        assert isinstance(after["clock_offset_ms"], int) and abs(after["clock_offset_ms"]) < 60_000


class TestNetworkBack:
    async def test_probe_kicks_a_pass_when_the_network_returns(
            self, agent_store: AgentDb, outbox: SqliteOutbox, cloud: RealCloud) -> None:
        """While offline the health probe is polled; when it answers, the pass runs without waiting out a
        long backoff (here up to 300 s)."""
        await record_sales(agent_store, 5)
        proxy = ChaosProxy("127.0.0.1", cloud.port, ChaosConfig(drop=1.0))
        client = make_client(f"http://127.0.0.1:{await proxy.start()}", cloud.device)
        answers: list[bool] = []

        async def probe() -> bool:
            answers.append(await client.probe())
            return answers[-1]

        config = UploaderConfig(interval=300, backoff_base=300, backoff_cap=300, probe_interval=0.05)
        up = Uploader(outbox, client, cloud.device.device_id, config)
        task = asyncio.create_task(up.run(probe))
        async with asyncio.timeout(10):
            while not answers:  # noqa: ASYNC110 -- bounded wait for a failed pass and a failed probe
                await asyncio.sleep(0.01)
        proxy.config = ChaosConfig()  # the network is back
        await _drained(outbox, limit=10)
        task.cancel()
        await client.close()
        await proxy.stop()
        assert answers[0] is False and answers[-1] is True
        await _assert_exactly_once(agent_store, cloud)


class TestStatusOnFailure:
    async def test_5xx_means_reachable_but_failing(self, agent_store: AgentDb, outbox: SqliteOutbox,
                                                   reference_cloud: CloudUnderTest) -> None:
        """A 503 keeps the items queued and the status says: the cloud answers (connected) but failed.
        (The stand-in: the real cloud cannot be made to answer a valid batch with a 5xx on demand.)"""
        await record_sales(agent_store, 2)
        reference_cloud.cloud.fail_next = [503]
        client = make_client(reference_cloud.url)
        with pytest.raises(TransientUploadError):
            await Uploader(outbox, client, DEVICE.device_id, FAST).sync_once()
        await client.close()
        status = await outbox.status()
        assert status["connected"] is True and "503" in status["last_error"]
        assert status["pending_count"] == 2 and status["last_ack_at"] is None

    async def test_no_network_means_disconnected(self, agent_store: AgentDb, outbox: SqliteOutbox,
                                                 cloud: RealCloud) -> None:
        """A refused connection keeps the items queued and the status says disconnected."""
        await record_sales(agent_store, 2)
        url = cloud.url
        await cloud.server.close()
        client = make_client(url)
        with pytest.raises(TransientUploadError):
            await Uploader(outbox, client, cloud.device.device_id, FAST).sync_once()
        await client.close()
        status = await outbox.status()
        assert status["connected"] is False and status["pending_count"] == 2
