"""The uploader's storage adapter over the chain: the `sales` and `refunds` tables (sync.uploader.Outbox).

Sales and chain refunds share one seq (migration 0600), so the oldest queued items are taken from both by
seq; each state change is applied to both tables (a local_id is in one of them only).

Every change goes through the agent database's one writer and commits before the method returns: a result
is durable before anyone is told, and `sending` is only ever a crash marker that `reset_sending` undoes.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

import aiosqlite

from agent.adapters.store.database import AgentDatabase
from sync.batch import OutboxItem, fit_count
from sync.clock import wall_clock_ms
from sync.results import ItemOutcome

_QUARANTINE_SHOWN = 20
Statements = Sequence[tuple[str, Sequence[Sequence[Any]]]]
CHAIN_TABLES = ("sales", "refunds")
_QUEUED = ("SELECT local_id, seq, item_json, hash, amount, currency, trace_context FROM sales "
           "WHERE sync_state = 'queued' UNION ALL "
           "SELECT local_id, seq, item_json, hash, amount, currency, trace_context FROM refunds "
           "WHERE sync_state = 'queued' AND seq IS NOT NULL ORDER BY seq LIMIT ?")

_REQUEUE = "UPDATE {table} SET sync_state = 'queued' WHERE local_id = ? AND sync_state = 'sending'"


def on_chain(sql: str, rows: Sequence[Sequence[Any]]) -> Statements:
    """One statement written for `{table}`, for both chain tables."""
    return [(sql.format(table=table), rows) for table in CHAIN_TABLES]


class SqliteOutbox:
    """FIFO by seq over sales.sync_state, in the agent database."""

    def __init__(self, database: AgentDatabase, device_id: str,
                 clock_ms: Callable[[], int] = wall_clock_ms) -> None:
        self._db, self._device_id, self._clock_ms = database, device_id, clock_ms

    async def _write(self, statements: Statements) -> int:
        """Run (sql, rows) pairs with executemany in one committed unit; return the rows changed."""

        def _run(conn: sqlite3.Connection) -> int:
            before = conn.total_changes
            for sql, rows in statements:
                conn.executemany(sql, rows)
            return conn.total_changes - before

        return await self._db.writer.run(_run)

    def _meta(self, **values: object) -> tuple[str, list[tuple[str, str, int]]]:
        now = self._clock_ms()
        rows = [(k, json.dumps(v), now) for k, v in values.items()]
        return ("INSERT INTO sync_meta (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE "
                "SET value = excluded.value, updated_at = excluded.updated_at", rows)

    async def reset_sending(self) -> int:
        """Items left `sending` by a crash go back to `queued` (the cloud dedups the resend)."""
        sql = "UPDATE {table} SET sync_state = 'queued' WHERE sync_state = 'sending'"
        return await self._write(on_chain(sql, [()]))

    async def claim(self, max_items: int, max_bytes: int) -> list[OutboxItem]:
        """Mark the oldest queued items (that fit one batch) `sending` and return them, FIFO by seq."""
        device_id = self._device_id

        def _claim(conn: sqlite3.Connection) -> list[OutboxItem]:
            rows = conn.execute(_QUEUED, (max_items,)).fetchall()
            items = [OutboxItem(r[0], r[1], r[2].encode("utf-8"), r[3], r[4], r[5], r[6]) for r in rows]
            items = items[:fit_count((len(it.item_json) + 76 for it in items), device_id,
                                     max_items, max_bytes)]
            for table in CHAIN_TABLES if items else ():
                conn.execute(f"UPDATE {table} SET sync_state = 'sending' "  # noqa: S608 -- fixed names
                             "WHERE sync_state = 'queued' AND seq BETWEEN ? AND ?",
                             (items[0].seq, items[-1].seq))
            return items

        return await self._db.writer.run(_claim)

    async def release(self, local_ids: Sequence[str], error: str, *, connected: bool) -> None:
        """A whole-batch failure: the items go back to `queued`; the error is recorded for the status
        (`connected`: the cloud answered, e.g. 5xx/401, as opposed to no network at all)."""
        await self._write([
            *on_chain(_REQUEUE, [(lid,) for lid in local_ids]),
            self._meta(last_error=error, last_error_at=self._clock_ms(), connected=connected),
        ])

    async def apply_results(self, outcomes: Sequence[ItemOutcome], release: Sequence[str],
                            server_time: int | None, sent_at: int) -> None:
        """Acked / rejected per item, unanswered items re-queued, status updated — one transaction.

        `server_time` is None for verdicts reached without a cloud answer (local quarantine)."""
        now = self._clock_ms()
        acked = [(o.cloud_intent_id, now, o.local_id) for o in outcomes if o.state == "acked"]
        refund_ids = [(o.refund_id, o.local_id) for o in outcomes if o.state == "acked" and o.refund_id]
        rejected = [(o.error, now, o.local_id) for o in outcomes if o.state == "rejected"]
        meta: dict[str, object] = {}
        if server_time is not None:
            meta = {"connected": True, "last_contact_at": now, "clock_offset_ms": server_time - sent_at}
            if not release:
                meta["last_error"] = None
        if acked:
            meta["last_ack_at"] = now
        await self._write([
            ("UPDATE refunds SET cloud_refund_id = ? WHERE local_id = ? AND sync_state <> 'acked'",
             refund_ids),
            *on_chain("UPDATE {table} SET sync_state = 'acked', cloud_intent_id = ?, synced_at = ?, "
                      "sync_error = NULL WHERE local_id = ? AND sync_state <> 'acked'", acked),
            *on_chain("UPDATE {table} SET sync_state = 'rejected', sync_error = ?, synced_at = ? "
                      "WHERE local_id = ? AND sync_state <> 'acked'", rejected),
            *on_chain(_REQUEUE, [(lid,) for lid in release]),
            self._meta(**meta),
        ])

    async def pending_count(self) -> int:
        """Sales not yet acknowledged (queued or sending), from the trigger-kept totals."""
        row = await self._db.fetch_one("SELECT COALESCE(SUM(count), 0) FROM pending_totals")
        return int(row[0]) if row else 0

    async def status(self) -> dict[str, Any]:
        """The sync fields of /api/status and `mpac-agent status`."""
        return await read_sync_status(self._db.reader)


async def _one(conn: aiosqlite.Connection, sql: str) -> Any:
    async with conn.execute(sql) as cur:
        row = await cur.fetchone()
    return row[0] if row else None


async def read_sync_status(conn: aiosqlite.Connection) -> dict[str, Any]:
    """Sync status from any connection to the agent database (read-only is fine)."""
    async with conn.execute("SELECT currency, count, amount FROM pending_totals WHERE count > 0") as cur:
        totals = [(str(r[0]), int(r[1]), int(r[2])) for r in await cur.fetchall()]
    async with conn.execute("SELECT key, value FROM sync_meta") as cur:
        meta = {str(r[0]): json.loads(r[1]) for r in await cur.fetchall()}
    async with conn.execute(
        "SELECT local_id, seq, amount, currency, sync_error, 'sale' FROM sales WHERE sync_state = 'rejected' "
        "UNION ALL SELECT local_id, seq, amount, currency, sync_error, 'refund' FROM refunds "
        "WHERE sync_state = 'rejected' ORDER BY seq DESC LIMIT ?", (_QUARANTINE_SHOWN,)) as cur:
        shown = [{"local_id": r[0], "seq": r[1], "amount": r[2], "currency": r[3],
                  "error": _parse_error(r[4]), "kind": r[5]} for r in await cur.fetchall()]
    return {
        "connected": meta.get("connected"),
        "pending_count": sum(t[1] for t in totals),
        "pending_amount": {cur: amount for cur, _count, amount in totals},
        "oldest_pending_at": await _one(
            conn, "SELECT MIN(created_at) FROM sales WHERE sync_state IN ('queued', 'sending')"),
        "last_ack_at": meta.get("last_ack_at"),
        "last_contact_at": meta.get("last_contact_at"),
        "last_error": meta.get("last_error"),
        "last_error_at": meta.get("last_error_at"),
        "clock_offset_ms": meta.get("clock_offset_ms"),
        "quarantined_count": int(await _one(
            conn, "SELECT (SELECT COUNT(*) FROM sales WHERE sync_state = 'rejected') + "
                  "(SELECT COUNT(*) FROM refunds WHERE sync_state = 'rejected')") or 0),
        "quarantined": shown,
    }


def _parse_error(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except (ValueError, sqlite3.Error):
        return text
