"""Recording sales in batches: idempotency, offline caps, gap-free seq, hash chain, in one transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite
from uuid6 import uuid7

from agent.domain.caps import PendingState, check_pending
from agent.domain.errors import SaleRefused
from agent.domain.sale import NewSale, Sale, chain, same_request
from agent.settings import OfflineSection
from sync.wire import GENESIS_HASH

SALE_COLUMNS = (
    "local_id, seq, created_at, prev_hash, hash, item_json, amount, currency, processing_mode, "
    "payment_method_type, merchant_ref_id, status, sync_state, sync_error, cloud_intent_id, synced_at, "
    "receipt_json"
)
_INSERT = (f"INSERT INTO sales ({SALE_COLUMNS}, trace_context) "  # noqa: S608 -- fixed column list
           f"VALUES ({', '.join('?' * 18)})")


@dataclass(frozen=True, slots=True)
class Recorded:
    """The outcome of recording a sale: the stored row, and whether this call created it."""

    sale: Sale
    created: bool


def sale_from_row(row: sqlite3.Row) -> Sale:
    """A `sales` row as a Sale."""
    return Sale(**{key: row[key] for key in row.keys()})  # noqa: SIM118 -- sqlite3.Row has no __iter__ of keys


# INDEXED BY: left alone the planner walks every pending row through sales_sync_state_seq (O(n)).
_PENDING_SQL = ("SELECT '' AS currency, 0 AS count, MIN(created_at) AS amount "
                "FROM sales INDEXED BY sales_pending_created WHERE sync_state IN ('queued', 'sending') "
                "UNION ALL SELECT currency, count, amount FROM pending_totals")


def _pending_from(rows: Iterable[Sequence[Any]]) -> PendingState:
    state = PendingState()
    for currency, count, amount in rows:
        if currency == "":
            state.oldest_ms = amount
        else:
            state.count += count
            state.amounts[currency] = amount
    return state


async def read_pending(conn: aiosqlite.Connection) -> PendingState:
    """Count, succeeded amount per currency and oldest created_at of the sales not yet acknowledged."""
    return _pending_from(await conn.execute_fetchall(_PENDING_SQL))


def pending_on(conn: sqlite3.Connection) -> PendingState:
    """read_pending on the writer's connection (inside its transaction)."""
    return _pending_from(conn.execute(_PENDING_SQL))


# The chain holds sales and refunds (migration 0600): its head is the higher seq of the two tables.
_HEAD_SQL = ("SELECT seq, hash FROM (SELECT seq, hash FROM sales UNION ALL "
             "SELECT seq, hash FROM refunds WHERE seq IS NOT NULL) ORDER BY seq DESC LIMIT 1")


async def read_head(conn: aiosqlite.Connection) -> tuple[int, str]:
    """The last seq and hash recorded (0 and the genesis hash for an empty chain)."""
    rows = list(await conn.execute_fetchall(_HEAD_SQL))
    return (int(rows[0][0]), str(rows[0][1])) if rows else (0, GENESIS_HASH)


class ChainWriter:
    """Batch handler of the writer for sales; keeps the chain head (last seq and hash) in memory.

    Refunds take their seq from the same head (agent/adapters/store/refunds.py): a batch may hold several
    runs of sale and refund jobs, so each run starts where the previous one of this batch stopped."""

    def __init__(self, caps: OfflineSection, clock_ms: Callable[[], int]) -> None:
        self._caps = caps
        self._clock = clock_ms
        self.head_seq = 0
        self.head_hash = GENESIS_HASH
        self._tentative: tuple[int, str] | None = None

    def on_commit(self, ok: bool) -> None:
        """Move the head only once the batch is committed."""
        if ok and self._tentative is not None:
            self.head_seq, self.head_hash = self._tentative
        self._tentative = None

    def clock_ms(self) -> int:
        """The device clock the chain stamps items with (unix ms)."""
        return self._clock()

    def tip(self) -> tuple[int, str]:
        """Where the next item of this batch chains on: the batch's last item, else the committed head."""
        return self._tentative or (self.head_seq, self.head_hash)

    def advance(self, seq: int, prev: str) -> None:
        """This batch now ends at (seq, hash); it becomes the head once committed."""
        self._tentative = (seq, prev)

    def handle(self, conn: sqlite3.Connection, news: list[NewSale]) -> list[Any]:
        """On the writer thread: record each sale or say why not (one SELECT each for refs and caps, one
        executemany); the chain head moves in on_commit, once the batch is durable."""
        existing = _by_refs(conn, [n.merchant_ref_id for n in news])
        pending = pending_on(conn)
        seq, prev = self.tip()
        outcomes: list[Any] = []
        rows: list[tuple[Any, ...]] = []
        now = self._clock()
        for new in news:
            known = existing.get(new.merchant_ref_id)
            if known is not None:
                outcomes.append(_replay(known, new))
                continue
            if new.enforce_caps:
                try:
                    check_pending(new.amount if new.status == "succeeded" else 0, new.currency, pending,
                                  self._caps, now)
                except SaleRefused as err:
                    outcomes.append(err)
                    continue
            seq += 1
            sale = chain(new, str(uuid7()), seq, now, prev)
            prev = sale.hash
            pending.add(sale.amount, sale.currency, sale.created_at, sale.status == "succeeded")
            existing[new.merchant_ref_id] = sale
            rows.append((*_row(sale), new.trace_context))
            outcomes.append(Recorded(sale, created=True))
        if rows:
            conn.executemany(_INSERT, rows)
            self.advance(seq, prev)
        return outcomes


def _replay(known: Sale | str, new: NewSale) -> Recorded | SaleRefused:
    if isinstance(known, Sale) and same_request(known, new):
        return Recorded(known, created=False)
    return SaleRefused(
        "merchant_ref_id_reused",
        f"The reference {new.merchant_ref_id!r} already belongs to another sale with a different amount or "
        "payment method. Use a new reference for a new sale.",
        param="merchant_ref_id", status=409,
    )


def _by_refs(conn: sqlite3.Connection, refs: list[str]) -> dict[str, Sale | str]:
    """Sales already stored under these references; a QR sale's reference maps to its local_id."""
    marks = ", ".join("?" * len(refs))
    # One round trip: full sale rows, then QR references (local_id in the first column, the rest NULL).
    nulls = ", ".join(["NULL"] * 5)
    sql = (f"SELECT {SALE_COLUMNS} FROM sales WHERE merchant_ref_id IN ({marks}) UNION ALL "  # noqa: S608
           f"SELECT local_id, {', '.join(['NULL'] * 9)}, merchant_ref_id, {nulls}, "
           f"'qr' FROM qr_sales WHERE merchant_ref_id IN ({marks})")
    found: dict[str, Sale | str] = {}
    for row in conn.execute(sql, [*refs, *refs]):
        if row["receipt_json"] == "qr":
            found.setdefault(row["merchant_ref_id"], row["local_id"])
        else:
            found[row["merchant_ref_id"]] = sale_from_row(row)
    return found


def _row(s: Sale) -> tuple[Any, ...]:
    return (s.local_id, s.seq, s.created_at, s.prev_hash, s.hash, s.item_json, s.amount, s.currency,
            s.processing_mode, s.payment_method_type, s.merchant_ref_id, s.status, s.sync_state, s.sync_error,
            s.cloud_intent_id, s.synced_at, s.receipt_json)
