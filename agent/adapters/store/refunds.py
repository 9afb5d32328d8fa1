"""The `refunds` table (migrations 0600, 0601): chain refunds recorded by the writer, online (QR) refunds,
reads.

A chain refund is decided and written in one writer job (docs/sync-protocol.md "Refund items"): the sale is
read, what is left of it computed (earlier refunds not rejected, this batch's too), the offline caps checked,
the item chained on the same head as the sales (`ChainWriter.tip`/`advance`). So two refunds that together
pass the sale's amount (or a line's quantity) can never both be stored, and a refused one leaves nothing
behind.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import astuple, replace
from typing import Any

from agent.adapters.store.chain import ChainWriter, pending_on
from agent.adapters.store.database import AgentDatabase
from agent.domain.caps import check_pending
from agent.domain.errors import SaleRefused
from agent.domain.receipt import items_of
from agent.domain.refund import (
    CHAIN_METHODS,
    NewRefund,
    RecordedRefund,
    Refund,
    RefundRefused,
    SaleToRefund,
    chained,
    check_refund,
    items_json,
    refund_amount,
    replay,
    returned_quantities,
    with_earlier,
)
from agent.domain.sale import METHOD_OF_TYPE
from agent.settings import OfflineSection
from sync.telemetry import current_traceparent

REFUND_COLUMNS = ("local_id, seq, created_at, prev_hash, hash, item_json, sale_local_id, method, amount, "
                  "currency, reason, merchant_refund_id, sync_state, sync_error, cloud_refund_id, "
                  "cloud_intent_id, synced_at, items_json")
_INSERT = (f"INSERT INTO refunds ({REFUND_COLUMNS}, trace_context) "  # noqa: S608 -- fixed column list
           f"VALUES ({', '.join('?' * 19)})")
_REFUNDED = ("(SELECT COALESCE(SUM(amount), 0) FROM refunds r WHERE r.sale_local_id = s.local_id "
             "AND r.sync_state <> 'rejected')")
# The sale of either table, with what its earlier refunds took and its items (constants only).
_SALE = (f"SELECT local_id, payment_method_type, status, amount, currency, {_REFUNDED}, cloud_intent_id, "  # noqa: S608
         "receipt_json FROM sales s WHERE local_id = ? UNION ALL "
         f"SELECT local_id, payment_method, status, amount, currency, {_REFUNDED}, cloud_intent_id, "
         "receipt_json FROM qr_sales s WHERE local_id = ?")
# The returned lines of the sale's itemised refunds that count (as _REFUNDED: all but rejected ones).
_RETURNED = ("SELECT items_json FROM refunds WHERE sale_local_id = ? AND sync_state <> 'rejected' "
             "AND items_json IS NOT NULL")


def sale_to_refund(conn: sqlite3.Connection, local_id: str) -> SaleToRefund | None:
    """The sale `local_id` (cash, card or QR) as a refund sees it, or None."""
    row = conn.execute(_SALE, (local_id, local_id)).fetchone()
    return _sale_from(row, (r[0] for r in conn.execute(_RETURNED, (local_id,))))


def _sale_from(row: sqlite3.Row | None, returned: Iterable[str]) -> SaleToRefund | None:
    if row is None:
        return None
    return SaleToRefund(str(row[0]), METHOD_OF_TYPE.get(str(row[1]), str(row[1])), str(row[2]), int(row[3]),
                        str(row[4]), int(row[5]), row[6], items_of(json.loads(row[7] or "{}")),
                        returned_quantities(returned))


def refund_from_row(row: sqlite3.Row) -> Refund:
    """A `refunds` row as a Refund."""
    return Refund(*tuple(row))


def _by_refund_ids(conn: sqlite3.Connection, ids: list[str]) -> dict[str, Refund]:
    marks = ", ".join("?" * len(ids))
    rows = conn.execute(f"SELECT {REFUND_COLUMNS} FROM refunds "  # noqa: S608 -- placeholders only
                        f"WHERE merchant_refund_id IN ({marks})", ids)
    return {r["merchant_refund_id"]: refund_from_row(r) for r in rows}


class RefundWriter:
    """Batch handler of the writer for chain refunds (job kind "refund")."""

    def __init__(self, chain: ChainWriter, caps: OfflineSection) -> None:
        self._chain, self._caps = chain, caps

    def handle(self, conn: sqlite3.Connection, news: list[NewRefund]) -> list[Any]:
        """On the writer thread: each refund recorded, or the reason it is refused, for its caller alone."""
        pending = pending_on(conn)
        taken: dict[str, list[NewRefund]] = {}  # refunds of earlier jobs of this batch, per sale
        seq, prev = self._chain.tip()
        now = self._chain.clock_ms()
        outcomes: list[Any] = []
        rows: list[tuple[Any, ...]] = []
        known = _by_refund_ids(conn, [n.merchant_refund_id for n in news])
        for new in news:
            try:
                if new.merchant_refund_id in known:
                    outcomes.append(replay(known[new.merchant_refund_id], new))
                    continue
                sale = self._sale(conn, new, taken)
                check_pending(new.amount, sale.currency, pending, self._caps, now)
            except SaleRefused as err:
                outcomes.append(err)
                continue
            seq += 1
            refund = chained(new, sale, seq, now, prev)
            prev = str(refund.hash)
            taken.setdefault(sale.local_id, []).append(new)
            pending.add(new.amount, sale.currency, now, True)
            rows.append((*astuple(refund), new.trace_context))
            known[new.merchant_refund_id] = refund
            outcomes.append(RecordedRefund(refund, created=True))
        if rows:
            conn.executemany(_INSERT, rows)
            self._chain.advance(seq, prev)
        return outcomes

    @staticmethod
    def _sale(conn: sqlite3.Connection, new: NewRefund, taken: dict[str, list[NewRefund]]) -> SaleToRefund:
        sale = sale_to_refund(conn, new.sale_local_id)
        if sale is not None:
            sale = with_earlier(sale, taken.get(sale.local_id, []))
            refund_amount(sale, new.amount, new.items)  # the service checked the lines; so does the job
        sale = check_refund(sale, new.amount, new.items)
        if sale.method not in CHAIN_METHODS:
            raise RefundRefused("refund_online_only", "QR payments are refunded online only.")
        return sale


class Refunds:
    """Recording and reading refunds over the agent database."""

    def __init__(self, database: AgentDatabase, chain: ChainWriter, caps: OfflineSection) -> None:
        self._db = database
        database.writer.register("refund", RefundWriter(chain, caps).handle)

    async def record(self, new: NewRefund) -> RecordedRefund:
        """Commit one chain refund, or find the one stored under its merchant_refund_id (raise
        RefundRefused / a cap refusal / StoreUnavailable)."""
        recorded: RecordedRefund = await self._db.writer.submit(
            "refund", replace(new, trace_context=current_traceparent()))
        return recorded

    async def sale(self, local_id: str) -> SaleToRefund | None:
        """The sale as a refund sees it (a read; the writer job checks again)."""
        row = await self._db.fetch_one(_SALE, (local_id, local_id))
        returned = [] if row is None else [r[0] for r in await self._db.fetch_all(_RETURNED, (local_id,))]
        return _sale_from(row, returned)

    async def record_online(self, new: NewRefund, sale: SaleToRefund, now: int,
                            cloud: dict[str, Any]) -> RecordedRefund:
        """Store a refund the cloud already made (QR): off the chain, sync_state 'online'; a parallel retry
        that stored it first (the cloud answered both with the same refund) is found instead."""
        refund = Refund(new.local_id, None, now, None, None, None, sale.local_id, sale.method, new.amount,
                        sale.currency, new.reason, new.merchant_refund_id, "online", None,
                        str(cloud.get("id") or "") or None, sale.cloud_intent_id, now, items_json(new, sale))
        try:
            await self._db.writer.run(lambda conn: conn.execute(_INSERT, (*astuple(refund), None)))
        except sqlite3.IntegrityError:
            known = await self.by_refund_id(new.merchant_refund_id)
            if known is None:
                raise
            return replay(known, new)
        return RecordedRefund(refund, created=True)

    async def by_refund_id(self, merchant_refund_id: str) -> Refund | None:
        """The refund stored under this merchant_refund_id, if any."""
        row = await self._db.fetch_one(f"SELECT {REFUND_COLUMNS} FROM refunds "  # noqa: S608
                                       "WHERE merchant_refund_id = ?", (merchant_refund_id,))
        return refund_from_row(row) if row is not None else None

    async def original_receipt(self, sale_local_id: str) -> tuple[dict[str, Any], str, int | None]:
        """What the sale stored for its receipt, how a refund receipt names it (its number, or id), and when
        the sale was made (unix ms; None if unknown)."""
        row = await self._db.fetch_one(
            "SELECT receipt_json, created_at FROM sales WHERE local_id = ? UNION ALL "
            "SELECT COALESCE(receipt_json, '{}'), created_at FROM qr_sales WHERE local_id = ?",
            (sale_local_id,) * 2)
        number = await self._db.fetch_one("SELECT number FROM receipt_numbers WHERE document_id = ?",
                                          (sale_local_id,))
        stored = json.loads(row[0]) if row is not None else {}
        name = f"No.{int(number[0]):06d}" if number is not None else sale_local_id
        return stored, name, int(row[1]) if row is not None and row[1] is not None else None

    async def of_sale(self, sale_local_id: str) -> list[Refund]:
        """The refunds of one sale, oldest first."""
        rows = await self._db.fetch_all(f"SELECT {REFUND_COLUMNS} FROM refunds "  # noqa: S608
                                        "WHERE sale_local_id = ? ORDER BY created_at, local_id",
                                        (sale_local_id,))
        return [refund_from_row(r) for r in rows]

    async def get(self, local_id: str) -> Refund | None:
        """One refund by local_id."""
        row = await self._db.fetch_one(f"SELECT {REFUND_COLUMNS} FROM refunds WHERE local_id = ?",  # noqa: S608
                                       (local_id,))
        return refund_from_row(row) if row is not None else None
