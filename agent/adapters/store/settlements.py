"""Receipt numbers and settlements in the agent's database (migration 0500; docs/settlement.md).

Every write goes through the database's one writer: a receipt number is taken in one job, and a Z report
reads the open day, stores the report and marks its sales in one job, so nothing can slip in between and a
refused report leaves nothing behind.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from agent.adapters.store.database import AgentDatabase
from agent.domain.qr_sale import TERMINAL
from agent.domain.sale import METHOD_OF_TYPE
from agent.domain.settlement import SettlementRefused, Takings
from sync.wire import canonical_json

_FINAL = ", ".join(f"'{s}'" for s in TERMINAL)  # constants only
# The open business day: chain sales (final by construction), final QR sales (by provider when the mirror
# knows it) and refunds (status 'refund', docs/settlement.md "Refunds") not yet in a Z report.
_OPEN = ("SELECT payment_method_type, status, currency, amount, "  # noqa: S608 -- constants only
         "UPPER(json_extract(item_json, '$.intent.result.card_brand')), created_at "
         "FROM sales INDEXED BY sales_open_day WHERE settlement_id IS NULL UNION ALL "
         "SELECT payment_method, status, currency, amount, COALESCE(provider, payment_method), created_at "
         f"FROM qr_sales WHERE settlement_id IS NULL AND status IN ({_FINAL}) UNION ALL "
         "SELECT method, 'refund', currency, amount, NULL, created_at "
         "FROM refunds INDEXED BY refunds_open_day WHERE settlement_id IS NULL")
_COLUMNS = "settlement_id, z_number, business_date, created_at, report_json, sync_state, synced_at"
ReportBuilder = Callable[[list[Takings], int | None, int], dict[str, Any]]


def _takings(rows: Sequence[Sequence[Any]]) -> tuple[list[Takings], int | None]:
    """The open day's sales, and the time of its first one (None: nothing taken)."""
    out = [Takings(METHOD_OF_TYPE.get(str(r[0]), str(r[0])), str(r[1]), str(r[2]), int(r[3]),
                   None if r[4] is None else str(r[4])) for r in rows]
    return out, min((int(r[5]) for r in rows), default=None)


class Settlements:
    """The settlements table, the open day and the receipt numbers."""

    def __init__(self, database: AgentDatabase) -> None:
        self._db = database

    async def open_day(self) -> tuple[list[Takings], int | None, int]:
        """The open day's sales, its first sale's time and the last Z number (reads only)."""
        rows = await self._db.fetch_all(_OPEN)
        takings, first = _takings(list(rows))
        last = await self._db.fetch_one("SELECT COALESCE(MAX(z_number), 0) FROM settlements")
        return takings, first, int(last[0]) if last else 0

    async def close_day(self, settlement_id: str, business_date: str, now: int,
                        build: ReportBuilder) -> dict[str, Any]:
        """Store the Z report of the open day and mark its sales, in one job; 409 if the date is closed."""

        def _close(conn: sqlite3.Connection) -> dict[str, Any]:
            if conn.execute("SELECT 1 FROM settlements WHERE business_date = ?", (business_date,)).fetchone():
                raise SettlementRefused("z_report_exists", f"The business day {business_date} is already "
                                        "closed: a Z report runs once per day. Use the X report to look "
                                        "at the figures.", status=409)
            takings, first = _takings(conn.execute(_OPEN).fetchall())
            number = int(conn.execute("SELECT COALESCE(MAX(z_number), 0) FROM settlements").fetchone()[0]) + 1
            report = build(takings, first, number)
            conn.execute(f"INSERT INTO settlements ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, 'queued', NULL)",  # noqa: S608
                         (settlement_id, number, business_date, now, canonical_json(report).decode()))
            for table in ("sales", "refunds"):  # constants only
                conn.execute(f"UPDATE {table} SET settlement_id = ? WHERE settlement_id IS NULL",  # noqa: S608
                             (settlement_id,))
            conn.execute("UPDATE qr_sales SET settlement_id = ? WHERE settlement_id IS NULL "  # noqa: S608
                         f"AND status IN ({_FINAL})", (settlement_id,))
            return report

        return await self._db.writer.run(_close)

    async def reports(self, limit: int = 10) -> list[dict[str, Any]]:
        """The newest Z reports with their sync state."""
        rows = await self._db.fetch_all(f"SELECT {_COLUMNS} FROM settlements "  # noqa: S608
                                        "ORDER BY z_number DESC LIMIT ?", (limit,))
        return [{**json.loads(r["report_json"]), "sync_state": r["sync_state"], "synced_at": r["synced_at"]}
                for r in rows]

    async def receipt_number(self, document_id: str, now: int) -> int:
        """The receipt number of `document_id`: the next one when it has none yet (committed)."""

        def _take(conn: sqlite3.Connection) -> int:
            conn.execute("INSERT INTO receipt_numbers (number, document_id, issued_at) "
                         "SELECT COALESCE(MAX(number), 0) + 1, ?, ? FROM receipt_numbers "
                         "WHERE NOT EXISTS (SELECT 1 FROM receipt_numbers WHERE document_id = ?)",
                         (document_id, now, document_id))
            row = conn.execute("SELECT number FROM receipt_numbers WHERE document_id = ?",
                               (document_id,)).fetchone()
            return int(row[0])

        return await self._db.writer.run(_take)


class SettlementOutbox:
    """The queued Z reports as the settlement upload sees them (implements sync.settlement_upload's port)."""

    def __init__(self, database: AgentDatabase, device_id: str, clock_ms: Callable[[], int]) -> None:
        self._db, self._device_id, self._clock = database, device_id, clock_ms

    async def queued_settlements(self, limit: int) -> list[tuple[str, bytes]]:
        """The oldest queued reports as the bytes to send: the stored report, with the device's id when it
        was closed before enrollment, and an empty refunds block when it predates refunds."""
        rows = await self._db.fetch_all("SELECT settlement_id, report_json FROM settlements "
                                        "WHERE sync_state = 'queued' ORDER BY z_number LIMIT ?", (limit,))
        return [(str(r[0]), self._body(str(r[1]))) for r in rows]

    def _body(self, stored: str) -> bytes:
        report = json.loads(stored)
        if report.get("device_id") is not None and "refunds" in report:
            return stored.encode("utf-8")
        report["device_id"] = report.get("device_id") or self._device_id
        if "refunds" not in report:
            none = {"transaction_count": 0, "total_amount": 0}
            report["refunds"] = {**none, "by_method": {g: dict(none) for g in ("cash", "credit_card", "qr")}}
            report["net_amount"] = report["total_amount"]
        return canonical_json(report)

    async def settlement_done(self, settlement_id: str, state: str, error: str | None) -> None:
        """Mark one report acked or rejected (committed)."""
        args = (state, error, self._clock(), settlement_id)
        await self._db.writer.run(lambda conn: conn.execute(
            "UPDATE settlements SET sync_state = ?, sync_error = ?, synced_at = ? "
            "WHERE settlement_id = ? AND sync_state <> 'acked'", args))
