"""ingest_batch against in-memory fakes of its ports: verdicts, lost races re-planned, scope checks."""

from __future__ import annotations

import gc
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from cloud.domain.errors import Forbidden
from cloud.domain.sync import (
    AcceptedSale,
    Anomaly,
    BatchWrite,
    DeviceSyncState,
    OfflineSale,
    SyncRace,
    offline_record,
)
from cloud.domain.tenants import Credential, CredentialKind, Store
from cloud.fakes import InMemoryUnitOfWork
from cloud.service.sync_batches import MAX_ATTEMPTS, ingest_batch
from sync.models import SyncBatchEnvelope
from sync.wire import GENESIS_HASH, item_hash

STORE = Store("str_1", "mer_1", "cp_1", "s001", "Shop", 0.0)
DEVICE = Credential("pk_dev", "0" * 64, CredentialKind.DEVICE, "cp_1", "mer_1", "str_1", "dev_1")


@dataclass
class FakeSync:
    """SyncRepository in memory; `race` makes the next commits fail as if another batch won first."""

    items: dict[str, str] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)
    refs: set[str] = field(default_factory=set)
    state_: DeviceSyncState = field(default_factory=lambda: DeviceSyncState("dev_1"))
    race: list[BatchWrite] = field(default_factory=list)
    commits: int = 0

    async def known(self, device_id: str, local_ids: list[str]) -> tuple[dict[str, str], dict[str, str]]:
        return ({k: v for k, v in self.items.items() if k in local_ids},
                {k: v for k, v in self.rejected.items() if k in local_ids})  # fmt: skip

    async def refs_in_use(self, merchant_id: str, refs: list[str]) -> set[str]:
        return self.refs & set(refs)

    async def state(self, device_id: str) -> DeviceSyncState:
        return self.state_

    async def add(self, batch: BatchWrite) -> None:
        self.commits += 1
        if self.race:
            self._apply(self.race.pop(0))
            raise SyncRace("UNIQUE constraint failed: sync_items.device_id, sync_items.local_id")
        self._apply(batch)

    def _apply(self, batch: BatchWrite) -> None:
        for a in batch.accepted:
            self.items[a.local_id] = a.intent_id
            self.refs.add(a.sale.merchant_ref_id)
        for r in batch.rejections:
            self.rejected[r.local_id] = json.dumps(r.error)
        self.state_ = batch.state

    async def anomalies(self, device_id: str, limit: int) -> list[Anomaly]:
        return []


@dataclass
class FakeTenants:
    """Just get_store, which is all ingest_batch reads."""

    async def get_store(self, store_id: str) -> Store | None:
        return STORE if store_id == STORE.id else None


def items(n: int) -> list[dict[str, Any]]:
    """n chained cash sales."""
    out, prev = [], GENESIS_HASH
    for seq in range(1, n + 1):
        item: dict[str, Any] = {"local_id": f"l{seq}", "seq": seq, "created_at": 1, "prev_hash": prev,
                                "intent": {"amount": 100, "currency": "JPY", "processing_mode": "manual",
                                           "payment_method_type": "cash", "merchant_ref_id": f"r{seq}",
                                           "status": "succeeded", "result": {}, "metadata": {}}}  # fmt: skip
        item["hash"] = prev = item_hash(prev, item)
        out.append(item)
    return out


def envelope(raw: Sequence[Any], device_id: str = "dev_1") -> SyncBatchEnvelope:
    """A batch envelope."""
    return SyncBatchEnvelope(batch_id="b1", device_id=device_id, sent_at=1000, items=list(raw))


async def ingest(env: SyncBatchEnvelope, sync: FakeSync, caller: Credential = DEVICE) -> list[dict[str, Any]]:
    """Run the handler with the fakes and return its results."""
    uow = InMemoryUnitOfWork(sync=sync)
    reply = await ingest_batch(env, caller, uow=uow, tenants=FakeTenants(), clock=lambda: 5.0)  # type: ignore[arg-type]
    return reply.results


class TestIngest:
    async def test_lost_race_is_replanned_as_duplicates(self) -> None:
        """When another batch commits the same items first, the retry answers duplicate with its ids."""
        raw = items(3)
        sync = FakeSync()
        first = FakeSync()
        await ingest(envelope(raw), first)
        sync.race.append(_write_of(first, raw))
        results = await ingest(envelope(raw), sync)
        assert [r["status"] for r in results] == ["duplicate"] * 3
        assert [r["payment_intent_id"] for r in results] == [first.items[f"l{i}"] for i in (1, 2, 3)]
        assert sync.commits == 2

    async def test_collector_state_is_restored(self) -> None:
        """The cyclic GC, paused for a batch's walk, is on again afterwards (and stays off if it was off)."""
        assert gc.isenabled()
        await ingest(envelope(items(3)), FakeSync())
        assert gc.isenabled()
        gc.disable()
        try:
            await ingest(envelope(items(3)), FakeSync())
            assert not gc.isenabled()
        finally:
            gc.enable()

    async def test_gives_up_after_max_attempts(self) -> None:
        """A batch that loses every race surfaces SyncRace (the API answers 503, the agent retries)."""
        sync = FakeSync()
        empty = BatchWrite("x", "dev_1", 0, 0.0, 0, 0, [], [], [], DeviceSyncState("dev_1"), STORE)
        sync.race.extend([empty] * MAX_ATTEMPTS)
        with pytest.raises(SyncRace):
            await ingest(envelope(items(1)), sync)

    async def test_partner_key_and_foreign_device_are_forbidden(self) -> None:
        """A partner credential, or a device_id that is not the caller's, is refused before any read."""
        partner = Credential("pk_p", "0" * 64, CredentialKind.PARTNER, "cp_1")
        with pytest.raises(Forbidden):
            await ingest(envelope(items(1)), FakeSync(), partner)
        with pytest.raises(Forbidden):
            await ingest(envelope(items(1), device_id="dev_2"), FakeSync())

    async def test_duplicate_ref_inside_one_batch(self) -> None:
        """Two new items with one merchant_ref_id: the first is accepted, the second rejected."""
        raw = items(2)
        raw[1]["intent"]["merchant_ref_id"] = "r1"
        results = await ingest(envelope(raw), FakeSync())
        assert [r["status"] for r in results] == ["accepted", "rejected"]
        assert results[1]["error"]["code"] == "merchant_ref_id_in_use"

    async def test_clock_offset_is_server_minus_sent(self) -> None:
        """server_time (5 s) minus sent_at (1,000 ms) is stored as the offset."""
        sync = FakeSync()
        await ingest(envelope(items(1)), sync)
        assert sync.state_.clock_offset_ms == 4000


def _write_of(done: FakeSync, raw: list[dict[str, Any]]) -> BatchWrite:
    """A BatchWrite that re-applies what `done` stored (the competing batch's commit)."""
    accepted: list[AcceptedSale] = []
    for item in raw:
        sale = OfflineSale(item["local_id"], item["seq"], 0, 100, "JPY", "manual", "cash",
                           item["intent"]["merchant_ref_id"], "succeeded")  # fmt: skip
        record = offline_record(sale, STORE, intent_id=done.items[item["local_id"]],
                                txn_ids=["t1", "t2", "t3"])  # fmt: skip
        accepted.append(AcceptedSale(sale, record, item["hash"]))
    return BatchWrite("b0", "dev_1", 0, 0.0, len(raw), 0, accepted, [], [], done.state_, STORE)
