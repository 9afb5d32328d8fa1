"""The sync intake (docs/sync-protocol.md): one batch -> per-item results, written in one unit, exactly once.

Plan (reads on the reader connection) -> commit (one unit of work). A concurrent batch that wrote the same
(device_id, local_id) first makes the UNIQUE constraint refuse ours; we re-plan against what it committed, so
the second sender sees `duplicate` with the first sender's payment_intent_id. Never two intents.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cloud.domain.errors import DomainError, Forbidden, NotFound, ValidationFailed
from cloud.domain.ids import PAYMENT_INTENT, TRANSACTION
from cloud.domain.ports import Clock, TenantRepository, UnitOfWork
from cloud.domain.sync import (
    AcceptedSale,
    Anomaly,
    BatchWrite,
    ChainHead,
    DeviceSyncState,
    OfflineSale,
    Rejection,
    SyncRace,
    SyncRepository,
    chain_step,
    offline_record,
)
from cloud.domain.tenants import Credential, CredentialKind, Store
from cloud.infrastructure.speed import collector_paused, fresh_ids, item_hash_ok
from sync.models import ItemError, SyncBatchEnvelope, SyncItem, hash_matches, raw_local_id, validate_item

MAX_ATTEMPTS = 5
MAX_INT = 2**53  # integers past this (JSON's safe range) are refused before they reach SQLite's 64 bits
Result = dict[str, Any]


@dataclass(frozen=True, slots=True)
class BatchReply:
    """The 200 body of POST /v1/sync/batches."""

    batch_id: str
    server_time: int
    results: list[Result]

    def as_json(self) -> dict[str, Any]:
        """The wire shape."""
        return {"batch_id": self.batch_id, "server_time": self.server_time, "results": self.results}


def device_of(caller: Credential, device_id: str) -> str:
    """The caller's device id; 403 for a partner key or another device's id."""
    if caller.kind is not CredentialKind.DEVICE or caller.device_id is None or caller.store_id is None:
        raise Forbidden("sync batches are posted with a device credential", code="device_credential_required")
    if device_id != caller.device_id:
        raise Forbidden("device_id is not this credential's device", code="device_mismatch",
                        param="device_id")  # fmt: skip
    return caller.device_id


def _error(err: DomainError) -> dict[str, Any]:
    type_ = "permission_error" if isinstance(err, Forbidden) else "invalid_request_error"
    return {"type": type_, "code": err.code, "message": err.message, "param": err.param}


def _chain_fields(raw: Any) -> tuple[int, str, str] | None:
    """(seq, prev_hash, hash) when a (possibly rejected) item carries them well-formed."""
    if not isinstance(raw, Mapping):
        return None
    seq, prev, digest = raw.get("seq"), raw.get("prev_hash"), raw.get("hash")
    ok = isinstance(seq, int) and not isinstance(seq, bool) and 1 <= seq <= MAX_INT
    if not ok or not isinstance(prev, str) or not isinstance(digest, str) or len(digest) != 64:
        return None
    return int(seq), prev, digest  # type: ignore[arg-type]


def _raw_ref(raw: Any) -> str | None:
    intent = raw.get("intent") if isinstance(raw, Mapping) else None
    ref = intent.get("merchant_ref_id") if isinstance(intent, Mapping) else None
    return ref if isinstance(ref, str) else None


def _sale(item: SyncItem) -> OfflineSale:
    i = item.intent  # result and metadata: the model's own fresh dicts, read only, so not copied
    return OfflineSale(
        item.local_id, item.seq, item.created_at, i.amount, i.currency, i.processing_mode,
        i.payment_method_type, i.merchant_ref_id, i.status, i.result, i.metadata,
    )  # fmt: skip


@dataclass
class _Plan:
    """The per-item walk of one batch against what is already stored."""

    device_id: str
    store: Store
    accepted_known: dict[str, str]
    rejected_known: dict[str, str]
    refs_used: set[str]
    head: ChainHead
    ids: list[str]
    next_id: int = 0
    pi_prefix: str = f"{PAYMENT_INTENT}_"
    txn_prefix: str = f"{TRANSACTION}_"
    results: list[Result] = field(default_factory=list)
    accepted: list[AcceptedSale] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)
    duplicates: int = 0

    def item(self, raw: Any) -> None:
        local_id = raw_local_id(raw)
        if local_id in self.accepted_known:
            self.duplicates += 1
            self.results.append({"local_id": local_id, "status": "duplicate",
                                 "payment_intent_id": self.accepted_known[local_id]})  # fmt: skip
            return
        if local_id in self.rejected_known:
            self._reject(local_id, None, json.loads(self.rejected_known[local_id]), store=False)
            return
        item = validate_item(raw)
        if isinstance(item, SyncItem):
            fields = (item.seq, item.prev_hash, item.hash) if item.seq <= MAX_INT else None
        else:
            fields = _chain_fields(raw)
        if fields is not None:
            hash_ok = item_hash_ok(raw, item) if isinstance(item, SyncItem) else hash_matches(raw)
            self.head, found = chain_step(self.head, local_id=local_id, seq=fields[0], prev_hash=fields[1],
                                          item_hash=fields[2], hash_ok=hash_ok)  # fmt: skip
            if found:
                self.anomalies.extend(found)
        self._decide(item, local_id, None if fields is None else fields[0])

    def _decide(self, item: SyncItem | ItemError, local_id: str, seq: int | None) -> None:
        if not isinstance(item, SyncItem):
            self._reject(local_id, seq, item.model_dump())
            return
        if max(item.seq, item.created_at) > MAX_INT:  # sync.models leaves these unbounded; SQLite is 64-bit
            self._reject(local_id, None, {"type": "invalid_request_error", "code": "invalid_item",
                                          "message": f"seq and created_at must be at most {MAX_INT}",
                                          "param": "seq"})  # fmt: skip
            return
        if item.intent.merchant_ref_id in self.refs_used:
            self._reject(local_id, seq, {"type": "invalid_request_error", "code": "merchant_ref_id_in_use",
                                         "message": "merchant_ref_id was already used by another sale",
                                         "param": "intent.merchant_ref_id"})  # fmt: skip
            return
        at = self.next_id
        self.next_id = at + 4  # one intent + up to three Transactions per item
        ids = self.ids
        sale = _sale(item)
        try:
            record = offline_record(sale, self.store, intent_id=self.pi_prefix + ids[at], txn_ids=(
                self.txn_prefix + ids[at + 1], self.txn_prefix + ids[at + 2], self.txn_prefix + ids[at + 3]))
        except DomainError as err:
            self._reject(local_id, seq, _error(err))
            return
        self.refs_used.add(sale.merchant_ref_id)
        self.accepted_known[local_id] = record.intent_id
        self.accepted.append(AcceptedSale(sale, record, item.hash))
        self.results.append({"local_id": local_id, "status": "accepted",
                             "payment_intent_id": record.intent_id})  # fmt: skip

    def _reject(self, local_id: str, seq: int | None, error: dict[str, Any], *, store: bool = True) -> None:
        if store and local_id:
            self.rejections.append(Rejection(local_id, seq, error))
            self.rejected_known[local_id] = json.dumps(error)
        self.results.append({"local_id": local_id, "status": "rejected", "error": error})


def _next_state(
    old: DeviceSyncState, plan: _Plan, envelope: SyncBatchEnvelope, now: float
) -> DeviceSyncState:
    kinds = [a.kind for a in plan.anomalies]
    broken = any(k in ("chain_broken", "bad_hash") for k in kinds)
    return DeviceSyncState(
        old.device_id, plan.head.seq, plan.head.hash, old.chain_broken or broken,
        old.seq_gaps + kinds.count("seq_gap"), old.anomalies + len(kinds),
        round(now * 1000) - envelope.sent_at, envelope.batch_id, now,
        old.accepted_total + len(plan.accepted), old.version,
    )  # fmt: skip


async def _plan_batch(envelope: SyncBatchEnvelope, device_id: str, store: Store, sync: SyncRepository,
                      now: float) -> tuple[BatchWrite, BatchReply]:  # fmt: skip
    local_ids = sorted({raw_local_id(r) for r in envelope.items} - {""})
    refs = sorted(ref for ref in map(_raw_ref, envelope.items) if ref is not None)
    # The device's state first: every batch commit bumps its version, so a batch that commits after this
    # read makes ours fail at commit (and re-plan), and one that committed before it is seen by the reads
    # below. Read after them, a batch committed in between would show its merchant_ref_ids but not its
    # sync_items, and ours would reject items that batch stored (docs/sync-protocol.md, exactly once).
    state = await sync.state(device_id)
    accepted, rejected = await sync.known(device_id, local_ids)
    ids = fresh_ids(4 * len(envelope.items), now)  # one intent + three Transactions per item, at most
    plan = _Plan(device_id, store, accepted, rejected, await sync.refs_in_use(store.merchant_id, refs),
                 ChainHead(state.last_seq, state.last_hash), ids)  # fmt: skip
    with collector_paused():
        for raw in envelope.items:
            plan.item(raw)
    write = BatchWrite(envelope.batch_id, device_id, envelope.sent_at, now, len(envelope.items),
                       plan.duplicates, plan.accepted, plan.rejections, plan.anomalies,
                       _next_state(state, plan, envelope, now), store)  # fmt: skip
    return write, BatchReply(envelope.batch_id, round(now * 1000), plan.results)


async def ingest_batch(
    envelope: SyncBatchEnvelope, caller: Credential, *, uow: UnitOfWork, tenants: TenantRepository,
    clock: Clock,
) -> BatchReply:  # fmt: skip
    """Answer every item in order; all writes of the batch in one unit of work, a fresh one per attempt after
    a lost race (so this handler commits its own units: an enclosing unit would defer the commit)."""
    device_id = device_of(caller, envelope.device_id)
    if envelope.sent_at > MAX_INT:
        raise ValidationFailed(f"sent_at must be at most {MAX_INT} (Unix ms)", param="sent_at")
    store = await tenants.get_store(caller.store_id or "")
    if store is None:
        raise NotFound("the device's store no longer exists")
    for attempt in range(MAX_ATTEMPTS):
        try:
            async with uow:
                write, reply = await _plan_batch(envelope, device_id, store, uow.sync, clock())
                await uow.intents.add_many(write.accepted, store, device_id)
                await uow.sync.add(write)
                await uow.commit()
        except SyncRace:
            if attempt == MAX_ATTEMPTS - 1:
                raise
            continue
        return reply
    raise AssertionError("unreachable")
