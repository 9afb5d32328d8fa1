"""What the terminal did, for the local pages (docs/local-web.md): every sale of any method (the offline
chain and the QR mirror together), today's totals per method, the print jobs still waiting, the last receipt's
bytes.

Read-only: everything goes through the database's one reader. Each table is read through its own created_at
index and the two pages are merged here, so a long sales history never means a full sort.
"""

from __future__ import annotations

import heapq
import sqlite3
from dataclasses import dataclass
from typing import Any

from agent.adapters.store.chain import SALE_COLUMNS, sale_from_row
from agent.adapters.store.database import AgentDatabase
from agent.domain.errors import SaleRefused
from agent.domain.qr_sale import QrSale, qr_to_json

METHODS = ("cash", "card", "qr_mpm", "qr_cpm")
_QR_COLUMNS = ("local_id, merchant_ref_id, created_at, updated_at, amount, currency, cloud_intent_id, "
               "status, qr_content, metadata_json, payment_method, failure_code, receipt_json")
OPEN_JOB_STATES = ("queued", "printing", "held", "failed")
_OPEN_JOBS_SQL = ("SELECT job_id, printer, receipt_id, kind, state, attempts, last_error, created_at, "
                  "queued_at FROM print_jobs WHERE state IN (?, ?, ?, ?) ORDER BY queued_at, job_id LIMIT ?")


@dataclass(frozen=True, slots=True)
class AnySaleFilter:
    """Filters of GET /api/sales over every method; times in unix ms; newest first."""

    sync_state: str | None = None  # only chain (cash/card) sales have one
    status: str | None = None
    payment_method: str | None = None  # cash, card, qr_mpm, qr_cpm
    created_gte: int | None = None
    created_lte: int | None = None
    starting_after: str | None = None  # a local_id of either table
    limit: int = 20


async def _cursor(db: AgentDatabase, local_id: str) -> tuple[int, str]:
    for table in ("sales", "qr_sales"):
        row = await db.fetch_one(f"SELECT created_at FROM {table} WHERE local_id = ?",  # noqa: S608 -- fixed
                                 (local_id,))
        if row is not None:
            return int(row[0]), local_id
    raise SaleRefused("unknown_cursor", "starting_after is not a known sale", param="starting_after",
                      status=400)


def _where(flt: AnySaleFilter, method_col: str, cursor: tuple[int, str] | None,
           chain: bool) -> tuple[str, list[Any]]:
    where: list[str] = []
    args: list[Any] = []
    if flt.sync_state is not None:
        if not chain:
            return "", []  # QR sales have no sync state: none matches
        where.append("sync_state = ?")
        args.append(flt.sync_state)
    for column, text in (("status", flt.status), (method_col, flt.payment_method)):
        if text is not None:
            where.append(f"{column} = ?")
            args.append(text)
    for op, bound in ((">=", flt.created_gte), ("<=", flt.created_lte)):
        if bound is not None:
            where.append(f"created_at {op} ?")
            args.append(bound)
    if cursor is not None:
        where.append("(created_at < ? OR (created_at = ? AND local_id < ?))")
        args.extend((cursor[0], cursor[0], cursor[1]))
    return "WHERE " + " AND ".join(where) if where else "WHERE 1", args


async def list_all_sales(db: AgentDatabase, flt: AnySaleFilter) -> tuple[list[dict[str, Any]], bool]:
    """Sales of every method as the API shows them, newest first; returns (page, has_more)."""
    cursor = await _cursor(db, flt.starting_after) if flt.starting_after else None
    n = flt.limit + 1
    pages: list[list[tuple[int, str, dict[str, Any]]]] = []
    clause, args = _where(flt, "payment_method_type", cursor, chain=True)
    if clause:
        rows = await db.fetch_all(f"SELECT {SALE_COLUMNS} FROM sales {clause} "  # noqa: S608 -- fixed parts
                                  "ORDER BY created_at DESC, local_id DESC LIMIT ?", (*args, n))
        pages.append([(r["created_at"], r["local_id"], sale_from_row(r).to_json()) for r in rows])
    clause, args = _where(flt, "payment_method", cursor, chain=False)
    if clause:
        rows = await db.fetch_all(f"SELECT {_QR_COLUMNS} FROM qr_sales {clause} "  # noqa: S608 -- fixed parts
                                  "ORDER BY created_at DESC, local_id DESC LIMIT ?", (*args, n))
        pages.append([(r[2], r[0], qr_to_json(QrSale(*tuple(r)))) for r in rows])
    merged = list(heapq.merge(*pages, key=lambda t: (t[0], t[1]), reverse=True))
    return [body for _t, _id, body in merged[: flt.limit]], len(merged) > flt.limit


async def totals_by_method(db: AgentDatabase, since_ms: int, until_ms: int) -> dict[str, dict[str, Any]]:
    """Count and amount per currency of the *succeeded* sales per method in [since, until)."""
    rows = await db.fetch_all(
        "SELECT payment_method_type, currency, COUNT(*), SUM(amount) FROM sales "
        "WHERE created_at >= ? AND created_at < ? AND status = 'succeeded' GROUP BY 1, 2 UNION ALL "
        "SELECT payment_method, currency, COUNT(*), SUM(amount) FROM qr_sales "
        "WHERE created_at >= ? AND created_at < ? AND status = 'succeeded' GROUP BY 1, 2",
        (since_ms, until_ms, since_ms, until_ms))
    totals: dict[str, dict[str, Any]] = {m: {"count": 0, "amount": {}} for m in METHODS}
    for method, currency, count, amount in rows:
        entry = totals.setdefault(str(method), {"count": 0, "amount": {}})
        entry["count"] += int(count)
        entry["amount"][str(currency)] = entry["amount"].get(str(currency), 0) + int(amount or 0)
    return totals


async def open_print_jobs(db: AgentDatabase, limit: int = 50) -> list[dict[str, Any]]:
    """Jobs not printed yet (queued, printing, held, failed), oldest first, without their bytes."""
    rows = await db.fetch_all(_OPEN_JOBS_SQL, (*OPEN_JOB_STATES, limit))
    return [dict(r) for r in rows]


async def print_job_state(db: AgentDatabase, job_id: str) -> dict[str, Any] | None:
    """One job's state (no bytes), or None."""
    row = await db.fetch_one("SELECT job_id, printer, kind, state, last_error, printed_at FROM print_jobs "
                             "WHERE job_id = ?", (job_id,))
    return dict(row) if row is not None else None


async def last_receipt(db: AgentDatabase) -> tuple[str, str, int, bytes] | None:
    """The newest receipt job's (job_id, receipt_id, created_at, ESC/POS bytes): what the printer got."""
    try:
        row = await db.fetch_one("SELECT job_id, receipt_id, created_at, payload FROM print_jobs "
                                 "WHERE kind IN ('receipt', 'reprint') ORDER BY created_at DESC, job_id DESC "
                                 "LIMIT 1")
    except sqlite3.OperationalError:  # no printer was ever configured: the table may be missing
        return None
    return None if row is None else (str(row[0]), str(row[1] or ""), int(row[2]), bytes(row[3]))
