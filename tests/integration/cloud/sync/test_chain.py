"""Hash-chain and seq-gap checks (flag, don't drop), clock offset and the suspended device, per device."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from cloud.domain.devices import SuspendDevice
from cloud.service.devices import suspend_device
from cloud.testing import Tenant, db_snapshot

from ..conftest import Pgw
from ..helpers import rows
from .helpers import Chain, device_client, enroll, post_batch, sale


async def show(pgw: Pgw, device_id: str) -> dict[str, Any]:
    """`mpac-pgw admin device show` as a subprocess on the server's file."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cloud.cli", "admin", "device", "show", "--device", device_id,
        "--db", pgw.cli_db, env=pgw.cli_env, stdout=asyncio.subprocess.PIPE)  # fmt: skip
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    shown: dict[str, Any] = json.loads(out)
    return shown


class TestChain:
    async def test_clean_chain_has_no_flags(self, pgw: Pgw, tenant: Tenant) -> None:
        """A gap-free, linked chain over two batches leaves the device unflagged with its head recorded."""
        keys = await enroll(pgw, tenant)
        dev, chain = device_client(pgw, keys), Chain(keys.device_id)
        await post_batch(dev, chain.batch([chain.add() for _ in range(3)]))
        await post_batch(dev, chain.batch([chain.add() for _ in range(2)]))
        state = rows(pgw.db_path, "SELECT last_seq, last_hash, chain_broken, seq_gaps, anomalies, "
                                  "accepted_total FROM device_sync_state WHERE device_id=?",
                     (keys.device_id,))  # fmt: skip
        assert state == [(5, chain.head, 0, 0, 0, 5)]

    async def test_broken_link_is_flagged_and_kept(self, pgw: Pgw, tenant: Tenant) -> None:
        """An item whose prev_hash does not link is accepted, and the device is flagged chain_broken."""
        keys = await enroll(pgw, tenant)
        dev, chain = device_client(pgw, keys), Chain(keys.device_id)
        items = [chain.add(), chain.add(prev_hash="ab" * 32), chain.add()]
        resp = await post_batch(dev, chain.batch(items))
        assert [r["status"] for r in resp.body["results"]] == ["accepted"] * 3
        shown = await show(pgw, keys.device_id)
        assert shown["sync"]["chain_broken"] is True
        assert [(a["kind"], a["seq"]) for a in shown["anomalies"]] == [("chain_broken", 2)]

    async def test_tampered_item_hash_is_flagged(self, pgw: Pgw, tenant: Tenant) -> None:
        """An item whose content no longer matches its hash is flagged bad_hash but still synced."""
        keys = await enroll(pgw, tenant)
        dev, chain = device_client(pgw, keys), Chain(keys.device_id)
        item = chain.add()
        item["intent"] = {**item["intent"], "amount": 1}
        resp = await post_batch(dev, chain.batch([item]))
        assert resp.body["results"][0]["status"] == "accepted"
        assert rows(pgw.db_path, "SELECT kind FROM sync_anomalies") == [("bad_hash",)]
        assert rows(pgw.db_path, "SELECT chain_broken FROM device_sync_state") == [(1,)]

    async def test_seq_gap_is_flagged_and_kept(self, pgw: Pgw, tenant: Tenant) -> None:
        """Seq 1 then seq 4: the gap is recorded, both items become intents."""
        keys = await enroll(pgw, tenant)
        dev, chain = device_client(pgw, keys), Chain(keys.device_id)
        items = [chain.add(), chain.add(skip_seq=2)]
        resp = await post_batch(dev, chain.batch(items))
        assert [r["status"] for r in resp.body["results"]] == ["accepted", "accepted"]
        assert rows(pgw.db_path, "SELECT kind, seq, detail FROM sync_anomalies") == \
            [("seq_gap", 4, "seq 2..3 never arrived")]  # fmt: skip
        assert rows(pgw.db_path, "SELECT seq_gaps, last_seq FROM device_sync_state") == [(1, 4)]
        assert rows(pgw.db_path, "SELECT count(*) FROM payment_intents") == [(2,)]

    async def test_rejected_items_stay_in_the_chain(self, pgw: Pgw, tenant: Tenant) -> None:
        """A rejected item still advances the chain head, so the next item is no gap."""
        keys = await enroll(pgw, tenant)
        dev, chain = device_client(pgw, keys), Chain(keys.device_id)
        await post_batch(dev, chain.batch([chain.add(sale(currency="QQQ"))]))
        await post_batch(dev, chain.batch([chain.add()]))
        assert rows(pgw.db_path, "SELECT count(*) FROM sync_anomalies") == [(0,)]
        assert rows(pgw.db_path, "SELECT last_seq FROM device_sync_state") == [(2,)]

    async def test_first_item_must_link_to_genesis(self, pgw: Pgw, tenant: Tenant) -> None:
        """A device whose first item does not start from 64 zeros is flagged."""
        keys = await enroll(pgw, tenant)
        dev, chain = device_client(pgw, keys), Chain(keys.device_id, head="11" * 32)
        await post_batch(dev, chain.batch([chain.add()]))
        assert rows(pgw.db_path, "SELECT kind FROM sync_anomalies") == [("chain_broken",)]


class TestDeviceRecord:
    async def test_clock_offset_is_recorded(self, pgw: Pgw, tenant: Tenant) -> None:
        """server_time - sent_at is stored per device (a device clock 90 s slow gives about +90,000 ms)."""
        keys = await enroll(pgw, tenant)
        dev, chain = device_client(pgw, keys), Chain(keys.device_id)
        batch = chain.batch([chain.add()])
        batch["sent_at"] = int(pgw.clock() * 1000) - 90_000
        resp = await post_batch(dev, batch)
        offset = rows(pgw.db_path, "SELECT clock_offset_ms FROM device_sync_state")[0][0]
        assert offset == resp.body["server_time"] - batch["sent_at"]
        assert 89_000 <= offset <= 91_000 + int(abs(time.time() - pgw.clock()) * 1000)

    async def test_receipt_per_batch(self, pgw: Pgw, tenant: Tenant) -> None:
        """Every answered batch leaves a receipt row with its counts."""
        keys = await enroll(pgw, tenant)
        dev, chain = device_client(pgw, keys), Chain(keys.device_id)
        items = [chain.add(), chain.add()]
        batch = chain.batch(items)
        await post_batch(dev, batch)
        await post_batch(dev, chain.batch(items))
        receipts = rows(pgw.db_path, "SELECT items, accepted, duplicates, rejected FROM sync_batches "
                                     "ORDER BY id")  # fmt: skip
        assert receipts == [(2, 2, 0, 0), (2, 0, 2, 0)]

    async def test_suspended_device_batch_is_403(self, pgw: Pgw, tenant: Tenant) -> None:
        """A suspended device's batch is refused whole with 403 and changes nothing."""
        keys = await enroll(pgw, tenant)
        dev, chain = device_client(pgw, keys), Chain(keys.device_id)
        await suspend_device(SuspendDevice(keys.device_id), devices=pgw.deps.devices, clock=pgw.clock)
        before = db_snapshot(pgw.db_path)
        resp = await post_batch(dev, chain.batch([chain.add()]))
        assert resp.status == 403 and resp.body["error"]["code"] == "credential_suspended"
        assert db_snapshot(pgw.db_path) == before
