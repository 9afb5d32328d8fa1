"""The sync intake (docs/sync-protocol.md): one batch -> per-item results, written in one unit, exactly once.

Plan (reads on the reader connection) -> commit (one unit of work). A concurrent batch that wrote the same
(device_id, local_id) first makes the UNIQUE constraint refuse ours; we re-plan against what it committed, so
the second sender sees `duplicate` with the first sender's payment_intent_id. Never two intents.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cloud.domain.errors import Forbidden, NotFound, ValidationFailed
from cloud.domain.intake import (
    IDS_PER_ITEM,
    MAX_INT,
    BatchPlan,
    CheckedItem,
    Result,
    chain_fields,
    raw_ref,
)
from cloud.domain.ports import Clock, TenantRepository, UnitOfWork
from cloud.domain.sync import BatchWrite, ChainHead, OfflineSale, SyncRace
from cloud.domain.tenants import Credential, CredentialKind, Store
from cloud.infrastructure.speed import collector_paused, fresh_ids, item_hash_ok
from cloud.service.sync_refunds import checked_refund, claimed, is_refund, load_book
from sync.models import SyncBatchEnvelope, SyncItem, hash_matches, raw_local_id, validate_item

MAX_ATTEMPTS = 5


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


def _sale(item: SyncItem) -> OfflineSale:
    i = item.intent  # result and metadata: the model's own fresh dicts, read only, so not copied
    return OfflineSale(
        item.local_id, item.seq, item.created_at, i.amount, i.currency, i.processing_mode,
        i.payment_method_type, i.merchant_ref_id, i.status, i.result, i.metadata,
    )  # fmt: skip


def _checked(raw: Any, local_id: str) -> CheckedItem:
    """Shape and hash of one new raw item, as the plan's plain facts."""
    if is_refund(raw):
        return checked_refund(raw, local_id)
    item = validate_item(raw)
    if not isinstance(item, SyncItem):
        chain = chain_fields(raw)
        return CheckedItem(local_id, chain, chain is not None and hash_matches(raw), None,
                           error=item.model_dump())  # fmt: skip
    chain = (item.seq, item.prev_hash, item.hash) if item.seq <= MAX_INT else None
    hash_ok = item_hash_ok(raw, item) if chain is not None else False
    return CheckedItem(local_id, chain, hash_ok, _sale(item), item.hash)


async def _plan_batch(envelope: SyncBatchEnvelope, device_id: str, store: Store, uow: UnitOfWork,
                      now: float) -> tuple[BatchWrite, BatchReply]:  # fmt: skip
    sync = uow.sync
    local_ids = sorted({raw_local_id(r) for r in envelope.items} - {""})
    refs = sorted(ref for ref in map(raw_ref, envelope.items) if ref is not None)
    # The device's state first: every batch commit bumps its version, so a batch that commits after this
    # read makes ours fail at commit (and re-plan), and one that committed before it is seen by the reads
    # below. Read after them, a batch committed in between would show its merchant_ref_ids but not its
    # sync_items, and ours would reject items that batch stored (docs/sync-protocol.md, exactly once).
    state = await sync.state(device_id)
    # The sales that refund items name by local_id are looked up with the items' own (one read).
    sales = sorted({*local_ids, *claimed(envelope.items, "payment_local_id")})
    accepted, rejected = await sync.known(device_id, sales)
    book = await load_book(envelope.items, device_id, store.merchant_id, accepted, intents=uow.intents,
                           refunds=uow.refunds, local_ids=local_ids)  # fmt: skip
    ids = fresh_ids(IDS_PER_ITEM * len(envelope.items), now)
    head = ChainHead(state.last_seq, state.last_hash)
    plan = BatchPlan(store, accepted, rejected, await sync.refs_in_use(store.merchant_id, refs), head, ids,
                     envelope.batch_id, device_id, book)  # fmt: skip
    with collector_paused():
        for raw in envelope.items:
            local_id = raw_local_id(raw)
            if not plan.answer_known(local_id):
                plan.decide(_checked(raw, local_id))
    write = BatchWrite(envelope.batch_id, device_id, envelope.sent_at, now, len(envelope.items),
                       plan.duplicates, plan.accepted, plan.rejections, plan.anomalies,
                       plan.state_after(state, envelope.batch_id, envelope.sent_at, now), store,
                       book.accepted)  # fmt: skip
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
                write, reply = await _plan_batch(envelope, device_id, store, uow, clock())
                await uow.intents.add_many(write.accepted, store, device_id)
                if write.refunds:  # after the sales they may refund
                    await uow.refunds.add_synced(write.refunds)
                await uow.sync.add(write)
                await uow.commit()
        except SyncRace:
            if attempt == MAX_ATTEMPTS - 1:
                raise
            continue
        return reply
    raise AssertionError("unreachable")
