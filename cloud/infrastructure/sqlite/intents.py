"""PaymentIntentRepository on SQLite."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any, NamedTuple

import orjson

from cloud.domain.commands import ListPaymentIntents
from cloud.domain.errors import Conflict
from cloud.domain.intent import (
    MODE_OF,
    CaptureMethod,
    MethodType,
    PaymentIntent,
    ProcessingMode,
    Status,
    Transaction,
)
from cloud.domain.ports import IntentScope, Page
from cloud.domain.sync import AcceptedSale, SyncRace
from cloud.domain.tenants import Store
from cloud.infrastructure.sqlite.db import Database, Pending, StaleWrite, Stmt

_COLUMNS = (
    "id, partner_id, merchant_id, store_id, store_code, status, amount, currency, payment_method_types, "
    "payment_method_type, processing_mode, capture_method, merchant_ref_id, order_id, merchant_terminal_id, "
    "description, metadata, qr_content, provider, provider_ref, details, failure_code, cancellation_reason, "
    "created_at, updated_at, expires_at, version"
)
# Read with amount_refunded, which only refunds write (cloud/infrastructure/sqlite/refunds.py).
SELECTED = f"{_COLUMNS}, amount_refunded"
_INSERT = f"INSERT INTO payment_intents ({_COLUMNS}) VALUES ({', '.join('?' * 27)})"  # noqa: S608 constant
_UPDATE = (
    "UPDATE payment_intents SET status=?, payment_method_type=?, processing_mode=?, qr_content=?, "
    "provider=?, provider_ref=?, details=?, failure_code=?, cancellation_reason=?, updated_at=?, "
    "version=version+1 "
    "WHERE id=? AND version=?"
)
_TXN = "INSERT INTO transactions VALUES (?, ?, ?, ?, ?, ?, ?)"
_TOKEN_INSERT = "INSERT INTO payment_tokens VALUES (?, ?, ?)"  # noqa: S105 — SQL, not a secret


def ms(seconds: float) -> int:
    """Unix seconds -> integer milliseconds."""
    return round(seconds * 1000)


def _dump(value: Any) -> str:
    # orjson: compact UTF-8 like json.dumps(separators=(",", ":"), ensure_ascii=False), ~8x faster.
    return orjson.dumps(value).decode("utf-8")


class _OfflineIntent(NamedTuple):
    """An accepted offline sale under PaymentIntent's attribute names, so that _row_values is the one builder
    of payment_intents rows: a PaymentIntent (and its Transactions) per item would cost ~23 µs, ~7% of a
    500-item batch's intake; this tuple costs ~1 µs."""

    id: str
    partner_id: str
    merchant_id: str
    store_id: str
    store_code: str
    status: Status
    amount: int
    currency: str
    payment_method_types: tuple[MethodType, ...]
    payment_method_type: MethodType
    processing_mode: ProcessingMode
    capture_method: CaptureMethod
    merchant_ref_id: str
    order_id: None
    merchant_terminal_id: str
    description: None
    metadata: dict[str, str]
    qr_content: None
    provider: None
    provider_ref: None
    details: dict[str, Any]
    failure_code: str | None
    cancellation_reason: str | None
    created_at: float
    updated_at: float
    expires_at: float
    version: int


def _row_values(i: PaymentIntent | _OfflineIntent) -> tuple[Any, ...]:
    """The payment_intents row, column for column (_COLUMNS)."""
    return (
        i.id, i.partner_id, i.merchant_id, i.store_id, i.store_code, i.status.value, i.amount, i.currency,
        _METHODS_JSON.get(i.payment_method_types) or _dump([t.value for t in i.payment_method_types]),
        i.payment_method_type, i.processing_mode, i.capture_method.value, i.merchant_ref_id, i.order_id,
        i.merchant_terminal_id, i.description, _dump(i.metadata), i.qr_content, i.provider, i.provider_ref,
        _dump(i.details), i.failure_code, i.cancellation_reason, ms(i.created_at), ms(i.updated_at),
        ms(i.expires_at), i.version,
    )  # fmt: skip


# The one-method lists every offline sale carries, encoded once.
_METHODS_JSON: dict[tuple[MethodType, ...], str] = {(m,): orjson.dumps([m.value]).decode("utf-8")
                                                    for m in MethodType}  # fmt: skip


def intent_row(a: AcceptedSale, store: Store, device_id: str) -> tuple[Any, ...]:
    """The payment_intents row of an accepted offline sale, straight from its record: equal to
    _row_values(offline_intent(...)) (tests/unit/cloud/infrastructure/sqlite/test_intents.py)."""
    s, r = a.sale, a.record
    return _row_values(_OfflineIntent(
        r.intent_id, store.partner_id, store.merchant_id, store.id, store.code, r.status, s.amount,
        s.currency, (r.method,), r.method, MODE_OF[r.method], CaptureMethod.AUTOMATIC, s.merchant_ref_id,
        None, device_id, None, r.metadata, None, None, None, r.details, r.failure_code,
        r.cancellation_reason, r.at, r.at, r.at, 0,
    ))  # fmt: skip


def txn_rows(a: AcceptedSale, actor: str) -> list[tuple[Any, ...]]:
    """The transactions rows of an accepted offline sale (as _txn_stmt writes a Transaction)."""
    r = a.record
    at, pi = ms(r.at), r.intent_id
    return [(tid, pi, None if before is None else before.value, after.value, actor, reason, at)
            for tid, before, after, reason in r.edges]  # fmt: skip


def sync_race(err: Exception) -> SyncRace:
    """A batch's unique key or state version refused by a concurrent batch: the intake re-plans."""
    return SyncRace(str(err))


def _opt(kind: type[MethodType] | type[ProcessingMode], value: str | None) -> Any:
    return None if value is None else kind(value)


def intent_from_row(r: sqlite3.Row) -> PaymentIntent:
    """Rebuild a PaymentIntent from its row."""
    return PaymentIntent(
        id=r["id"], partner_id=r["partner_id"], merchant_id=r["merchant_id"], store_id=r["store_id"],
        store_code=r["store_code"], amount=r["amount"], currency=r["currency"],
        payment_method_types=tuple(MethodType(t) for t in json.loads(r["payment_method_types"])),
        merchant_ref_id=r["merchant_ref_id"], created_at=r["created_at"] / 1000,
        expires_at=r["expires_at"] / 1000, status=Status(r["status"]),
        payment_method_type=_opt(MethodType, r["payment_method_type"]),
        processing_mode=_opt(ProcessingMode, r["processing_mode"]),
        capture_method=CaptureMethod(r["capture_method"]), order_id=r["order_id"],
        merchant_terminal_id=r["merchant_terminal_id"], description=r["description"],
        metadata=json.loads(r["metadata"]), qr_content=r["qr_content"], provider=r["provider"],
        provider_ref=r["provider_ref"], details=json.loads(r["details"]), failure_code=r["failure_code"],
        cancellation_reason=r["cancellation_reason"], updated_at=r["updated_at"] / 1000, version=r["version"],
        amount_refunded=r["amount_refunded"],
    )  # fmt: skip


def _txn_stmt(t: Transaction) -> Stmt:
    from_status = None if t.from_status is None else t.from_status.value
    return Stmt(
        _TXN, (t.id, t.intent_id, from_status, t.to_status.value, t.actor, t.reason, ms(t.created_at))
    )


def _duplicate_ref(err: sqlite3.IntegrityError) -> Conflict | None:
    if "merchant_ref_id" not in str(err):
        return None
    return Conflict(
        "merchant_ref_id was already used for this merchant", code="duplicate_merchant_ref_id",
        param="merchant_ref_id",
    )  # fmt: skip


class SqliteIntentRepository:
    """Intents, Transactions and payment tokens in one SQLite file: reads on the reader, writes staged in
    the unit of work's Pending list (committed by the unit, so their errors surface at its commit)."""

    def __init__(self, db: Database, pending: Pending) -> None:
        self._db = db
        self._pending = pending

    async def add(
        self, intent: PaymentIntent, txn: Transaction, token_hash: str, token_expires: float
    ) -> None:
        """Stage intent + creation Transaction + first token."""
        self._pending.add([
            Stmt(_INSERT, _row_values(intent), on_integrity=_duplicate_ref),
            _txn_stmt(txn),
            Stmt(_TOKEN_INSERT, (token_hash, intent.id, ms(token_expires))),
        ])  # fmt: skip

    async def add_many(self, accepted: Sequence[AcceptedSale], store: Store, device_id: str) -> None:
        """Stage the intents and Transactions of a batch's accepted offline sales, one executemany per table
        (SyncRace at commit if a concurrent batch took a key first)."""
        if not accepted:
            return
        actor = f"device:{device_id}"
        self._pending.add([
            Stmt(_INSERT, [intent_row(a, store, device_id) for a in accepted], many=True,
                 on_integrity=sync_race),
            Stmt(_TXN, [row for a in accepted for row in txn_rows(a, actor)], many=True,
                 on_integrity=sync_race),
        ])  # fmt: skip

    async def get(self, intent_id: str) -> PaymentIntent | None:
        """The intent, or None."""
        row = await self._db.fetch_one(f"SELECT {SELECTED} FROM payment_intents WHERE id=?", (intent_id,))  # noqa: S608
        return None if row is None else intent_from_row(row)

    async def save(self, intent: PaymentIntent, txns: Sequence[Transaction], expected_version: int) -> None:
        """Version-guarded update plus Transactions, atomically; StaleWrite (a Conflict) if it moved."""
        i = intent
        params = (
            i.status.value, i.payment_method_type, i.processing_mode, i.qr_content, i.provider,
            i.provider_ref, _dump(i.details), i.failure_code, i.cancellation_reason, ms(i.updated_at), i.id,
            expected_version,
        )  # fmt: skip
        self._pending.add([Stmt(_UPDATE, params, expect_one=True), *(_txn_stmt(t) for t in txns)])

    async def list(self, scope: IntentScope, query: ListPaymentIntents) -> Page:
        """Newest first (ULID order), limit+1 rows fetched to know has_more."""
        where, params = ["partner_id=?"], [scope.partner_id]
        filters: list[tuple[str, Any]] = [
            ("merchant_id=?", scope.merchant_id),
            ("store_id=?", scope.store_id),
            ("id<?", query.starting_after),
            ("status=?", None if query.status is None else query.status.value),
            ("store_code=?", query.merchant_store_id),
            ("created_at>=?", None if query.created_gte is None else query.created_gte * 1000),
            ("created_at<?", None if query.created_lte is None else (query.created_lte + 1) * 1000),
        ]
        for clause, value in filters:
            if value is not None:
                where.append(clause)
                params.append(value)
        sql = f"SELECT {SELECTED} FROM payment_intents WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?"  # noqa: S608
        rows = await self._db.fetch_all(sql, [*params, query.limit + 1])
        items = [intent_from_row(r) for r in rows[: query.limit]]
        return Page(items, len(rows) > query.limit)

    async def transactions(self, intent_id: str) -> Sequence[Transaction]:
        """Every Transaction of an intent, oldest first."""
        rows = await self._db.fetch_all(
            "SELECT * FROM transactions WHERE intent_id=? ORDER BY rowid", (intent_id,)
        )
        return [
            Transaction(
                r["id"],
                r["intent_id"],
                None if r["from_status"] is None else Status(r["from_status"]),
                Status(r["to_status"]),
                r["actor"],
                r["created_at"] / 1000,
                r["reason"],
            )
            for r in rows
        ]

    async def expired(self, now: float, limit: int) -> Sequence[PaymentIntent]:
        """Untouched intents past expiry, oldest expiry first."""
        rows = await self._db.fetch_all(
            f"SELECT {SELECTED} FROM payment_intents WHERE status='requires_payment_method' "  # noqa: S608
            "AND expires_at<=? ORDER BY expires_at LIMIT ?",
            (ms(now), limit),
        )
        return [intent_from_row(r) for r in rows]

    async def add_token(self, token_hash: str, intent_id: str, expires_at: float) -> None:
        """Stage another token hash for an intent."""
        self._pending.add([Stmt(_TOKEN_INSERT, (token_hash, intent_id, ms(expires_at)))])

    async def token_intent(self, token_hash: str, now: float) -> tuple[str, str] | None:
        """(intent id, merchant id) of a live token, or None (expired and unknown look the same)."""
        row = await self._db.fetch_one(
            "SELECT t.intent_id, p.merchant_id FROM payment_tokens t"
            " JOIN payment_intents p ON p.id = t.intent_id WHERE t.token_hash=? AND t.expires_at>?",
            (token_hash, ms(now)),
        )
        return None if row is None else (str(row["intent_id"]), str(row["merchant_id"]))


__all__ = ["SqliteIntentRepository", "StaleWrite", "intent_from_row", "intent_row", "txn_rows"]
