"""PaymentIntentRepository on PostgreSQL: rows built by the same functions as on SQLite, so both backends
store the same values; a batch's accepted sales go in with COPY (one round trip per table)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cloud.domain.commands import ListPaymentIntents
from cloud.domain.errors import Conflict
from cloud.domain.intent import PaymentIntent, Status, Transaction
from cloud.domain.ports import IntentScope, Page
from cloud.domain.sync import AcceptedSale
from cloud.domain.tenants import Store
from cloud.infrastructure.postgres.db import Op, Pending, PgDatabase
from cloud.infrastructure.sqlite.intents import (
    _COLUMNS,
    SELECTED,
    _dump,
    _row_values,
    ms,
    sync_race,
    txn_rows,
)
from cloud.infrastructure.sqlite.intents import intent_from_row as _from_row
from cloud.infrastructure.sqlite.intents import intent_row as _intent_row

INTENT_COLUMNS = tuple(c.strip() for c in _COLUMNS.split(","))
TXN_COLUMNS = ("id", "intent_id", "from_status", "to_status", "actor", "reason", "created_at")
_INSERT = (f"INSERT INTO payment_intents ({_COLUMNS}) "  # noqa: S608 — constants
           f"VALUES ({', '.join(f'${n}' for n in range(1, len(INTENT_COLUMNS) + 1))})")
_UPDATE = (
    "UPDATE payment_intents SET status=$1, payment_method_type=$2, processing_mode=$3, qr_content=$4, "
    "provider=$5, provider_ref=$6, details=$7, failure_code=$8, cancellation_reason=$9, updated_at=$10, "
    "version=version+1 WHERE id=$11 AND version=$12"
)
_TXN = f"INSERT INTO transactions ({', '.join(TXN_COLUMNS)}) VALUES ($1, $2, $3, $4, $5, $6, $7)"  # noqa: S608
_TOKEN_INSERT = "INSERT INTO payment_tokens (token_hash, intent_id, expires_at) VALUES ($1, $2, $3)"  # noqa: S105


def intent_from_row(r: Any) -> PaymentIntent:
    """Rebuild a PaymentIntent from an asyncpg Record (read by column name, as on SQLite)."""
    return _from_row(r)


def _txn_op(t: Transaction) -> Op:
    from_status = None if t.from_status is None else t.from_status.value
    return Op(_TXN, (t.id, t.intent_id, from_status, t.to_status.value, t.actor, t.reason, ms(t.created_at)))


def _duplicate_ref(err: Exception) -> Conflict | None:
    if "payment_intents_merchant_ref_id" not in str(err):
        return None
    return Conflict("merchant_ref_id was already used for this merchant", code="duplicate_merchant_ref_id",
                    param="merchant_ref_id")  # fmt: skip


def copy_op(table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> Op:
    """A set-based insert of many rows: binary COPY into the table, in the unit's transaction (a unique
    key already taken makes the whole unit a SyncRace, as the SQLite path's executemany does)."""

    async def run(conn: Any) -> None:
        await conn.copy_records_to_table(table, records=rows, columns=list(columns))

    return Op(f"INSERT INTO {table}", run=run, on_integrity=sync_race)


class PgIntentRepository:
    """Intents, Transactions and payment tokens: reads on the pool, writes staged in the unit of work."""

    def __init__(self, db: PgDatabase, pending: Pending) -> None:
        self._db = db
        self._pending = pending

    async def add(
        self, intent: PaymentIntent, txn: Transaction, token_hash: str, token_expires: float
    ) -> None:
        """Stage intent + creation Transaction + first token."""
        self._pending.add([
            Op(_INSERT, _row_values(intent), on_integrity=_duplicate_ref),
            _txn_op(txn),
            Op(_TOKEN_INSERT, (token_hash, intent.id, ms(token_expires))),
        ])  # fmt: skip

    async def add_many(self, accepted: Sequence[AcceptedSale], store: Store, device_id: str) -> None:
        """Stage a batch's accepted sales: one COPY for the intents, one for their Transactions."""
        if not accepted:
            return
        actor = f"device:{device_id}"
        self._pending.add([
            copy_op("payment_intents", INTENT_COLUMNS, [_intent_row(a, store, device_id) for a in accepted]),
            copy_op("transactions", TXN_COLUMNS, [row for a in accepted for row in txn_rows(a, actor)]),
        ])  # fmt: skip

    async def get(self, intent_id: str) -> PaymentIntent | None:
        """The intent, or None."""
        row = await self._db.fetch_one(f"SELECT {SELECTED} FROM payment_intents WHERE id=$1", (intent_id,))  # noqa: S608
        return None if row is None else intent_from_row(row)

    async def save(self, intent: PaymentIntent, txns: Sequence[Transaction], expected_version: int) -> None:
        """Version-guarded update plus Transactions; StaleWrite (a Conflict) at commit if it moved."""
        i = intent
        args = (
            i.status.value, i.payment_method_type, i.processing_mode, i.qr_content, i.provider,
            i.provider_ref, _dump(i.details), i.failure_code, i.cancellation_reason, ms(i.updated_at), i.id,
            expected_version,
        )  # fmt: skip
        self._pending.add([Op(_UPDATE, args, expect_one=True), *(_txn_op(t) for t in txns)])

    async def list(self, scope: IntentScope, query: ListPaymentIntents) -> Page:
        """Newest first (ULID order), limit+1 rows fetched to know has_more."""
        filters: list[tuple[str, Any]] = [
            ("partner_id", scope.partner_id),
            ("merchant_id", scope.merchant_id),
            ("store_id", scope.store_id),
            ("id<", query.starting_after),
            ("status", None if query.status is None else query.status.value),
            ("store_code", query.merchant_store_id),
            ("created_at>=", None if query.created_gte is None else query.created_gte * 1000),
            ("created_at<", None if query.created_lte is None else (query.created_lte + 1) * 1000),
        ]
        where, args = [], []
        for column, value in filters:
            if value is not None:
                args.append(value)
                where.append(f"{column}{'' if column[-1] in '<=' else '='}${len(args)}")
        sql = (f"SELECT {SELECTED} FROM payment_intents WHERE {' AND '.join(where)} "  # noqa: S608
               f"ORDER BY id DESC LIMIT ${len(args) + 1}")
        rows = await self._db.fetch_all(sql, [*args, query.limit + 1])
        return Page([intent_from_row(r) for r in rows[: query.limit]], len(rows) > query.limit)

    async def transactions(self, intent_id: str) -> Sequence[Transaction]:
        """Every Transaction of an intent, in the order written."""
        rows = await self._db.fetch_all(
            "SELECT id, intent_id, from_status, to_status, actor, created_at, reason FROM transactions "
            "WHERE intent_id=$1 ORDER BY pos", (intent_id,))  # fmt: skip
        return [Transaction(r[0], r[1], None if r[2] is None else Status(r[2]), Status(r[3]), r[4],
                            r[5] / 1000, r[6]) for r in rows]  # fmt: skip

    async def expired(self, now: float, limit: int) -> Sequence[PaymentIntent]:
        """Untouched intents past expiry, oldest expiry first."""
        rows = await self._db.fetch_all(
            f"SELECT {SELECTED} FROM payment_intents WHERE status='requires_payment_method' "  # noqa: S608
            "AND expires_at<=$1 ORDER BY expires_at LIMIT $2", (ms(now), limit))  # fmt: skip
        return [intent_from_row(r) for r in rows]

    async def add_token(self, token_hash: str, intent_id: str, expires_at: float) -> None:
        """Stage another token hash for an intent."""
        self._pending.add([Op(_TOKEN_INSERT, (token_hash, intent_id, ms(expires_at)))])

    async def token_intent(self, token_hash: str, now: float) -> tuple[str, str] | None:
        """(intent id, merchant id) of a live token, or None."""
        row = await self._db.fetch_one(
            "SELECT t.intent_id, p.merchant_id FROM payment_tokens t"
            " JOIN payment_intents p ON p.id = t.intent_id WHERE t.token_hash=$1 AND t.expires_at>$2",
            (token_hash, ms(now)))  # fmt: skip
        return None if row is None else (str(row[0]), str(row[1]))
