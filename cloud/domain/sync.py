"""Offline sales as PaymentIntents, and the per-device hash-chain / sequence checks of docs/sync-protocol.md
(pure)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol

from cloud.domain.currency import is_known_currency
from cloud.domain.errors import Forbidden, ValidationFailed
from cloud.domain.ids import TRANSACTION, new_id
from cloud.domain.intent import (
    MODE_OF,
    MethodType,
    PaymentIntent,
    ProcessingMode,
    Status,
    Transaction,
    can_transition,
)
from cloud.domain.refunds import Refund
from cloud.domain.tenants import Store

SYNC_MODES = frozenset({ProcessingMode.EXTERNAL, ProcessingMode.MANUAL})
CARD_FIELDS = ("status", "approval_code", "card_brand", "card_last_4", "entry_method")
_LAST4 = re.compile(r"^[0-9]{4}$")
_STORE_KEYS = ("store_id", "merchant_store_id")


_EMPTY: Mapping[str, Any] = MappingProxyType({})


class OfflineSale(NamedTuple):
    """One synced item as the domain sees it: a sale the device already finished (a tuple: 500 are made
    per batch, and a frozen dataclass costs ~3 µs each to build)."""

    local_id: str
    seq: int
    created_at_ms: int
    amount: int
    currency: str
    processing_mode: str
    payment_method_type: str
    merchant_ref_id: str
    status: str
    result: Mapping[str, Any] = _EMPTY
    metadata: Mapping[str, Any] = _EMPTY


# (payment_method_type, processing_mode) -> method, for every pair a synced sale may carry.
_SYNC_METHODS = {(m.value, MODE_OF[m].value): m for m in MethodType if MODE_OF[m] in SYNC_MODES}


def _method(sale: OfflineSale) -> MethodType:
    found = _SYNC_METHODS.get((sale.payment_method_type, sale.processing_mode))
    if found is not None:
        return found
    try:
        method, mode = MethodType(sale.payment_method_type), ProcessingMode(sale.processing_mode)
    except ValueError as err:
        raise ValidationFailed(f"unknown payment method or processing mode: {err}", param="intent",
                               code="invalid_payment_method") from err  # fmt: skip
    if mode not in SYNC_MODES:
        raise ValidationFailed("only external (card) and manual (cash) sales are synced; QR sales are "
                               "processed online", code="unsupported_processing_mode",
                               param="intent.processing_mode")  # fmt: skip
    if MODE_OF[method] is not mode:
        raise ValidationFailed(f"{method} does not fit processing_mode {mode}",
                               code="processing_mode_mismatch", param="intent.processing_mode")  # fmt: skip
    return method


def _details(sale: OfflineSale, method: MethodType) -> dict[str, Any]:
    """Whitelisted result fields only: a card result never carries more than the last 4 digits."""
    result = sale.result
    if method is MethodType.CASH:
        received = result.get("cash_received")
        if received is None:
            return {}
        if not isinstance(received, int) or isinstance(received, bool) or received < 0:
            raise ValidationFailed("cash_received must be a non-negative integer", param="intent.result")
        if sale.status == Status.SUCCEEDED and received < sale.amount:
            raise ValidationFailed("cash_received is less than amount", code="insufficient_cash",
                                   param="intent.result.cash_received")  # fmt: skip
        return {"cash_received": received, "change": received - sale.amount}
    card = {k: result[k] for k in CARD_FIELDS if isinstance(result.get(k), str)}
    if "card_last_4" in card and _LAST4.match(card["card_last_4"]) is None:
        raise ValidationFailed("card_last_4 must be exactly 4 digits", param="intent.result.card_last_4")
    return {"card": card} if card else {}


def _metadata(sale: OfflineSale, store: Store) -> dict[str, str]:
    for key in _STORE_KEYS:
        claimed = sale.metadata.get(key)
        if claimed is not None and claimed not in (store.id, store.code):
            raise Forbidden("this item belongs to another store than the device's",
                            code="store_mismatch", param=f"intent.metadata.{key}")  # fmt: skip
    return {k: v if isinstance(v, str) else str(v) if type(v) is int else json.dumps(v, ensure_ascii=False)
            for k, v in sale.metadata.items()}  # fmt: skip


class OfflineRecord(NamedTuple):
    """What a synced sale becomes, checked: the intent's final fields and its Transactions' edges.

    A tuple, not objects: the batch intake writes 500 of these per request straight to rows
    (offline_intent builds the PaymentIntent and Transactions from the same record).
    """

    intent_id: str
    method: MethodType
    status: Status
    details: dict[str, Any]
    metadata: dict[str, str]
    failure_code: str | None
    cancellation_reason: str | None
    at: float  # the sale's time, Unix seconds: created, updated and every Transaction
    edges: list[tuple[str, Status | None, Status, str | None]]  # (transaction id, from, to, reason)


def offline_record(
    sale: OfflineSale, store: Store, *, intent_id: str, txn_ids: Sequence[str]
) -> OfflineRecord:
    """Check a finished offline sale against the store and the state machine (DomainError if it may not
    be stored); `txn_ids` holds one id per Transaction of the path (three suffice for every path)."""
    if not is_known_currency(sale.currency):
        raise ValidationFailed(f"unknown currency {sale.currency!r}", code="invalid_currency",
                               param="intent.currency")  # fmt: skip
    method = _method(sale)
    details, metadata = _details(sale, method), _metadata(sale, store)
    path, failure_code, cancellation_reason = _final_path(sale, method)
    edges: list[tuple[str, Status | None, Status, str | None]] = [
        (txn_ids[0], None, Status.REQUIRES_PAYMENT_METHOD, "created")]  # fmt: skip
    for n, ((before, after), reason) in enumerate(path, 1):
        if not can_transition(before, after):  # the offline path obeys the same state machine
            raise ValidationFailed(f"no path from {before} to {after}", param="intent.status")
        edges.append((txn_ids[n], before, after, reason))
    return OfflineRecord(intent_id, method, path[-1][0][1], details, metadata, failure_code,
                         cancellation_reason, sale.created_at_ms / 1000, edges)  # fmt: skip


def offline_intent(
    sale: OfflineSale, store: Store, *, intent_id: str, device_id: str, txn_ids: Sequence[str] | None = None
) -> tuple[PaymentIntent, list[Transaction]]:
    """The intent in its final state plus every Transaction of its path, all by the device at sale time.

    `txn_ids` (three, or fresh ones are drawn) lets the caller mint ids in bulk for a whole batch.
    """
    r = offline_record(sale, store, intent_id=intent_id,
                       txn_ids=txn_ids or [new_id(TRANSACTION) for _ in range(3)])  # fmt: skip
    actor = f"device:{device_id}"
    txns = [Transaction(tid, intent_id, before, after, actor, r.at, reason)
            for tid, before, after, reason in r.edges]  # fmt: skip
    intent = PaymentIntent(
        id=intent_id, partner_id=store.partner_id, merchant_id=store.merchant_id, store_id=store.id,
        store_code=store.code, amount=sale.amount, currency=sale.currency, payment_method_types=(r.method,),
        merchant_ref_id=sale.merchant_ref_id, created_at=r.at, expires_at=r.at, payment_method_type=r.method,
        processing_mode=MODE_OF[r.method], merchant_terminal_id=device_id, metadata=r.metadata,
        updated_at=r.at, status=r.status, details=r.details, failure_code=r.failure_code,
        cancellation_reason=r.cancellation_reason,
    )  # fmt: skip
    return intent, txns


Path = list[tuple[tuple[Status, Status], str | None]]


def _final_path(sale: OfflineSale, method: MethodType) -> tuple[Path, str | None, str | None]:
    """Edges from requires_payment_method to the sale's final status; failure_code; cancellation_reason."""
    rpm, result = Status.REQUIRES_PAYMENT_METHOD, sale.result
    if sale.status == Status.CANCELLED:
        reason = str(result.get("cancellation_reason") or "requested_by_customer")
        return [((rpm, Status.CANCELLED), reason)], None, reason
    first = ((rpm, Status.PROCESSING), "offline_sale")
    if sale.status == Status.SUCCEEDED:
        return [first, ((Status.PROCESSING, Status.SUCCEEDED), None)], None, None
    code = str(result.get("failure_code") or ("card_declined" if method is MethodType.CARD else "declined"))
    return [first, ((Status.PROCESSING, Status.FAILED), code)], code, None


@dataclass(frozen=True, slots=True)
class Anomaly:
    """Something wrong with a device's chain or sequence, recorded (never a reason to drop an item)."""

    kind: str  # chain_broken | bad_hash | seq_gap | seq_regression
    local_id: str
    seq: int
    detail: str


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last (seq, hash) the cloud saw from a device."""

    seq: int
    hash: str


def chain_step(
    head: ChainHead, *, local_id: str, seq: int, prev_hash: str, item_hash: str, hash_ok: bool
) -> tuple[ChainHead, list[Anomaly]]:
    """Check one new item against the head; returns the new head and what was wrong (if anything)."""
    found: list[Anomaly] = []
    if not hash_ok:
        found.append(Anomaly("bad_hash", local_id, seq, "hash != sha256(prev_hash + canonical item)"))
    if seq == head.seq + 1 and prev_hash != head.hash:
        found.append(Anomaly("chain_broken", local_id, seq, f"prev_hash does not link to seq {head.seq}"))
    elif seq > head.seq + 1:
        found.append(Anomaly("seq_gap", local_id, seq, f"seq {head.seq + 1}..{seq - 1} never arrived"))
    elif seq <= head.seq:
        found.append(Anomaly("seq_regression", local_id, seq, f"seq {seq} after seq {head.seq}"))
    if seq > head.seq:
        return ChainHead(seq, item_hash), found
    return head, found


@dataclass(frozen=True, slots=True)
class DeviceSyncState:
    """What the cloud knows about a device's stream: chain head, flags, clock offset; version = 0 if new."""

    device_id: str
    last_seq: int = 0
    last_hash: str = "0" * 64
    chain_broken: bool = False
    seq_gaps: int = 0
    anomalies: int = 0
    clock_offset_ms: int | None = None
    last_batch_id: str | None = None
    last_batch_at: float | None = None
    accepted_total: int = 0
    version: int = 0


class AcceptedSale(NamedTuple):
    """An item that became an intent: the sale, what it becomes, and its hash in the device's chain."""

    sale: OfflineSale
    record: OfflineRecord
    hash: str

    @property
    def local_id(self) -> str:
        """The device's id of the sale (the exactly-once key, with the device)."""
        return self.sale.local_id

    @property
    def intent_id(self) -> str:
        """The PaymentIntent the sale became."""
        return self.record.intent_id


@dataclass(frozen=True, slots=True)
class Rejection:
    """A final `rejected` answer, kept so a re-sent item gets the same one."""

    local_id: str
    seq: int | None
    error: dict[str, Any]


@dataclass(frozen=True, slots=True)
class BatchWrite:
    """Everything one batch changes, written in one transaction (or not at all)."""

    batch_id: str
    device_id: str
    sent_at: int
    received_at: float
    items: int
    duplicates: int
    accepted: list[AcceptedSale]
    rejections: list[Rejection]
    anomalies: list[Anomaly]
    state: DeviceSyncState
    store: Store  # the device's store: the intents' tenant columns
    refunds: Sequence[tuple[Refund, Transaction]] = ()  # accepted refund items (docs/sync-protocol.md)


class SyncRace(Exception):
    """A concurrent batch wrote the same keys or moved the device's state first; re-read and retry."""


class SyncRepository(Protocol):
    """The sync intake's storage: exactly-once keys, rejections, chain state, receipts."""

    async def known(self, device_id: str, local_ids: list[str]) -> tuple[dict[str, str], dict[str, str]]:
        """({local_id: payment_intent_id} already accepted, {local_id: error JSON} already rejected)."""

    async def refs_in_use(self, merchant_id: str, refs: list[str]) -> set[str]:
        """Which of these merchant_ref_ids the merchant already has an intent for."""

    async def state(self, device_id: str) -> DeviceSyncState:
        """The device's sync state (a fresh one, version 0, before its first batch)."""

    async def add(self, batch: BatchWrite) -> None:
        """Stage the batch's rows in the unit of work; its commit raises SyncRace if a unique key or the
        state version refused them."""

    async def anomalies(self, device_id: str, limit: int) -> list[Anomaly]:
        """The device's recorded anomalies, oldest first."""
