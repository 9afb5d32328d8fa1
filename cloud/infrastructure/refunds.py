"""RefundRepository on SQLite and PostgreSQL (one implementation; cloud/infrastructure/dialect.py holds what
differs). docs/cloud-api.md#refunds.

"A refund never exceeds what was paid" is decided by the database, not by a read: every refund that counts
(pending or succeeded) raises the intent's amount_refunded with an UPDATE guarded by
`amount_refunded + amount <= amount`, in the unit's transaction. SQLite runs every write transaction alone
(the one writer, BEGIN IMMEDIATE); PostgreSQL takes the row lock for the UPDATE and re-checks the WHERE
against the row as the first refund left it (what SELECT … FOR UPDATE then a check would do, in one
statement). So of racing refunds exactly those that fit succeed; the one that does not changes no row, and
the unit fails as a whole (its refund row and Transaction are not written). The CHECK of migration 0700
stands behind it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cloud.domain.intent import Transaction
from cloud.domain.refunds import (
    Refund,
    RefundFinished,
    RefundStatus,
    SyncOrigin,
    exceeds,
    ref_in_use,
    retry_wait_s,
)
from cloud.domain.sync import SyncRace
from cloud.infrastructure.dialect import Dialect, Write

COLUMNS = (
    "id, intent_id, merchant_id, amount, currency, reason, merchant_refund_id, status, provider_ref, "
    "failure_code, actor, device_id, local_id, seq, hash, batch_id, created_at, updated_at"
)
_INSERT = f"INSERT INTO refunds ({COLUMNS}, next_try_at) VALUES ({', '.join('?' * 19)})"  # noqa: S608
_RESERVE = (
    "UPDATE payment_intents SET amount_refunded = amount_refunded + ?, version = version + 1, "
    "updated_at = ? WHERE id = ? AND status = 'succeeded' AND amount_refunded + ? <= amount"
)
_RELEASE = (
    "UPDATE payment_intents SET amount_refunded = amount_refunded - ?, version = version + 1, "
    "updated_at = ? WHERE id = ? AND amount_refunded >= ?"
)
_FINISH = (
    "UPDATE refunds SET status = ?, provider_ref = ?, failure_code = ?, updated_at = ? "
    "WHERE id = ? AND status = 'pending'"
)
_TOUCH = "UPDATE refunds SET updated_at = ?, next_try_at = ? WHERE id = ? AND status = 'pending'"
# Due: its next try's time has come (set at insert and at each try from RETRY_BACKOFF; partial index 0740).
_PENDING = (
    f"SELECT {COLUMNS} FROM refunds WHERE status = 'pending' AND next_try_at <= ? "  # noqa: S608 — constants
    "ORDER BY next_try_at, id LIMIT ?"
)
_TXN = (
    "INSERT INTO transactions (id, intent_id, from_status, to_status, actor, reason, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _row(r: Refund) -> tuple[Any, ...]:
    o = r.origin
    at = _ms(r.created_at)
    return (r.id, r.intent_id, r.merchant_id, r.amount, r.currency, r.reason, r.merchant_refund_id,
            r.status.value, r.provider_ref, r.failure_code, r.actor, o and o.device_id, o and o.local_id,
            o and o.seq, o and o.hash, o and o.batch_id, at, at,
            at + retry_wait_s(0) * 1000 if r.status is RefundStatus.PENDING else None)  # fmt: skip


def refund_from_row(r: Any) -> Refund:
    """A refunds row (COLUMNS, by name) as a Refund."""
    origin = None if r["device_id"] is None else SyncOrigin(r["device_id"], r["local_id"], r["seq"],
                                                            r["hash"], r["batch_id"])  # fmt: skip
    return Refund(r["id"], r["intent_id"], r["merchant_id"], r["amount"], r["currency"],
                  RefundStatus(r["status"]), r["actor"], r["created_at"] / 1000, r["reason"],
                  r["merchant_refund_id"], r["provider_ref"], r["failure_code"], origin)  # fmt: skip


def _txn(t: Transaction) -> Write:
    before = None if t.from_status is None else t.from_status.value
    return Write(_TXN, (t.id, t.intent_id, before, t.to_status.value, t.actor, t.reason, _ms(t.created_at)))


def _duplicate_ref(err: Any) -> BaseException | None:
    return ref_in_use() if "merchant_refund_id" in str(err) else None


def _finished(_err: Any) -> BaseException:
    return RefundFinished("this refund's outcome was already recorded")


def _race(err: Any) -> BaseException:
    return SyncRace(f"a concurrent change refused this batch's refund: {type(err).__name__}")


class SqlRefundRepository:
    """Refund rows and the guarded amount_refunded of their intents, staged in the unit of work."""

    def __init__(self, dialect: Dialect) -> None:
        self._d = dialect

    def _writes(self, refund: Refund, txn: Transaction, refused: Callable[[Any], BaseException],
                taken: Callable[[Any], BaseException | None]) -> list[Write]:  # fmt: skip
        at, writes = _ms(refund.created_at), []
        if refund.status is not RefundStatus.FAILED:
            # The CHECK of migration 0700 (on_integrity) would only fire if the guard were ever wrong.
            writes.append(Write(_RESERVE, (refund.amount, at, refund.intent_id, refund.amount),
                                expect_one=True, on_stale=refused, on_integrity=refused))  # fmt: skip
        return [*writes, Write(_INSERT, _row(refund), on_integrity=taken), _txn(txn)]

    async def add(self, refund: Refund, txn: Transaction) -> None:
        """Stage the guarded reservation, the refund row and its Transaction."""
        self._d.stage(self._writes(refund, txn, lambda _e: exceeds(refund.amount), _duplicate_ref))

    async def add_synced(self, refunds: Sequence[tuple[Refund, Transaction]]) -> None:
        """Stage a batch's refunds; a refusal at commit is a SyncRace, so the intake re-plans."""
        self._d.stage([w for refund, txn in refunds for w in self._writes(refund, txn, _race, _race)])

    async def finish(self, refund: Refund, txn: Transaction) -> None:
        """Stage a pending refund's outcome; a failed one gives its amount back to the intent."""
        at = _ms(txn.created_at)
        outcome = (refund.status.value, refund.provider_ref, refund.failure_code, at, refund.id)
        # _FINISH is guarded by `status = 'pending'`: of two racing finishers only one changes the row.
        writes = [Write(_FINISH, outcome, expect_one=True, on_stale=_finished)]
        if refund.status is RefundStatus.FAILED:
            writes.append(
                Write(_RELEASE, (refund.amount, at, refund.intent_id, refund.amount), expect_one=True)
            )
        self._d.stage([*writes, _txn(txn)])

    async def pending(self, now: float, limit: int) -> Sequence[Refund]:
        """Pending refunds due for another try at `now`, the longest overdue first."""
        return [refund_from_row(r) for r in await self._d.rows(_PENDING, (_ms(now), limit))]

    async def touch(self, refund: Refund, at: float) -> None:
        """Stage a still-pending refund's try at `at` and its next one (none if it was finished meanwhile)."""
        next_try = at + retry_wait_s(at - refund.created_at)
        self._d.stage([Write(_TOUCH, (_ms(at), _ms(next_try), refund.id))])

    async def get(self, refund_id: str) -> Refund | None:
        """The refund, or None."""
        rows = await self._d.rows(f"SELECT {COLUMNS} FROM refunds WHERE id = ?", (refund_id,))  # noqa: S608
        return refund_from_row(rows[0]) if rows else None

    async def of_intent(
        self, intent_id: str, *, limit: int = 100, starting_after: str | None = None
    ) -> Sequence[Refund]:
        """The intent's refunds, oldest first (ULID order), after `starting_after` if given."""
        sql = f"SELECT {COLUMNS} FROM refunds WHERE intent_id = ? AND id > ? ORDER BY id LIMIT ?"  # noqa: S608
        rows = await self._d.rows(sql, (intent_id, starting_after or "", limit))
        return [refund_from_row(r) for r in rows]

    async def synced(self, device_id: str, local_ids: Sequence[str]) -> Mapping[str, Refund]:
        """The device's stored refunds among these local_ids."""
        clause, params = self._d.in_list("local_id", local_ids)
        rows = await self._d.rows(f"SELECT {COLUMNS} FROM refunds WHERE device_id = ? AND {clause}",  # noqa: S608
                                  (device_id, *params))  # fmt: skip
        return {r["local_id"]: refund_from_row(r) for r in rows}

    async def refund_ids_in_use(self, merchant_id: str, refs: Sequence[str]) -> set[str]:
        """merchant_refund_ids among `refs` the merchant already used."""
        clause, params = self._d.in_list("merchant_refund_id", refs)
        sql = f"SELECT merchant_refund_id FROM refunds WHERE merchant_id = ? AND {clause}"  # noqa: S608
        rows = await self._d.rows(sql, (merchant_id, *params))
        return {str(r[0]) for r in rows}
