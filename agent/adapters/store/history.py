"""The 24 h activity history behind the status page's chart (migration 0400_activity_history.sql).

One row per minute — queue depth, sales acknowledged by the cloud, sales taken — written through the
database's one writer and pruned to 24 h in the same transaction, so it stays at most 1,440 small rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from typing import Any

from agent.adapters.store.database import AgentDatabase

log = logging.getLogger(__name__)
MINUTE_MS = 60_000
KEEP_MS = 24 * 60 * MINUTE_MS
SAMPLE_S = 60.0
_MINUTE_SQL = (
    "SELECT (SELECT COALESCE(SUM(count), 0) FROM pending_totals), "
    "(SELECT COUNT(*) FROM sales WHERE synced_at >= ?1 AND synced_at < ?2 AND sync_state = 'acked'), "
    "(SELECT COUNT(*) FROM sales WHERE created_at >= ?1 AND created_at < ?2) + "
    "(SELECT COUNT(*) FROM qr_sales WHERE created_at >= ?1 AND created_at < ?2)")


def _minute_of(now_ms: int) -> int:
    return now_ms - now_ms % MINUTE_MS


def _sample(conn: sqlite3.Connection, now_ms: int) -> None:
    minute = _minute_of(now_ms)
    depth, acked, taken = conn.execute(_MINUTE_SQL, (minute, minute + MINUTE_MS)).fetchone()
    conn.execute("INSERT INTO activity_history (minute, queue_depth, acked, taken) VALUES (?, ?, ?, ?) "
                 "ON CONFLICT (minute) DO UPDATE SET queue_depth = excluded.queue_depth, "
                 "acked = excluded.acked, taken = excluded.taken", (minute, depth, acked, taken))
    conn.execute("DELETE FROM activity_history WHERE minute < ?", (minute - KEEP_MS,))


async def record_minute(db: AgentDatabase, now_ms: int) -> None:
    """Sample the current minute (its row is updated until the minute ends) and prune past 24 h."""
    await db.writer.run(lambda conn: _sample(conn, now_ms))


async def read_history(db: AgentDatabase, now_ms: int) -> list[dict[str, Any]]:
    """The stored minutes of the last 24 h, oldest first, the current minute read live."""
    rows = await db.fetch_all("SELECT minute, queue_depth, acked, taken FROM activity_history "
                              "WHERE minute >= ? AND minute < ? ORDER BY minute",
                              (_minute_of(now_ms) - KEEP_MS, _minute_of(now_ms)))
    minute = _minute_of(now_ms)
    live = await db.fetch_one(_MINUTE_SQL, (minute, minute + MINUTE_MS))
    points = [{"minute": r[0], "queue_depth": r[1], "acked": r[2], "taken": r[3]} for r in rows]
    if live is not None:
        points.append({"minute": minute, "queue_depth": live[0], "acked": live[1], "taken": live[2]})
    return points


@contextlib.asynccontextmanager
async def history_recorder(db: AgentDatabase, clock_ms: Callable[[], int],
                           every_s: float = SAMPLE_S) -> AsyncIterator[None]:
    """Sample at start and then every `every_s` while the app runs."""

    async def loop() -> None:
        while True:
            try:
                await record_minute(db, clock_ms())
            except Exception as err:  # a full or read-only store must not stop the agent
                log.error("activity history not recorded: %s", err)
            await asyncio.sleep(every_s)

    task = asyncio.create_task(loop(), name="agent-history")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
