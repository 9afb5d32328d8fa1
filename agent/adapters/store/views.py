"""Read-only views of the agent database for the CLI, doctor and the support bundle.

They never write: the running agent may hold the writer, and a technician's command must not disturb it.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

from agent.adapters.store.database import AgentDatabase
from agent.adapters.store.outbox import read_sync_status
from agent.domain.qr_sale import TERMINAL
from sync.sqlite import connect_reader

BUNDLE_SALES = 50
_OPEN_QR = f"SELECT COUNT(*) FROM qr_sales WHERE status NOT IN ({', '.join(repr(s) for s in TERMINAL)})"  # noqa: S608


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)


async def offline_status(path: Path) -> dict[str, Any] | None:
    """The sync status straight from the file (no agent running); None when there is no database yet."""
    if not path.exists():  # noqa: ASYNC240 -- one stat of a local file
        return None
    conn = await connect_reader(path)
    try:
        status = await read_sync_status(conn)
        rows = list(await conn.execute_fetchall(_OPEN_QR))
        status["qr_pending"] = int(rows[0][0]) if rows else 0
        return status
    finally:
        await conn.close()


async def support_view(database: AgentDatabase, limit: int = BUNDLE_SALES) -> dict[str, Any]:
    """Sync status, counts per sync_state and the newest sales (no card data is stored to begin with)."""
    sync = await read_sync_status(database.reader)
    by_state = {str(r[0]): int(r[1]) for r in await database.fetch_all(
        "SELECT sync_state, COUNT(*) FROM sales GROUP BY sync_state")}
    sales = [dict(r) for r in await database.fetch_all(
        "SELECT local_id, seq, created_at, amount, currency, payment_method_type, status, sync_state, "
        "sync_error FROM sales ORDER BY seq DESC LIMIT ?", (limit,))]
    return {"sync": sync, "sales_by_sync_state": by_state, "recent_sales": sales}


def unsynced_count(path: Path) -> int:
    """Sales not yet acknowledged by the cloud (0 when there is no database, or it cannot be read)."""
    if not path.exists():
        return 0
    with contextlib.closing(_read_only(path)) as conn:
        try:
            row = conn.execute(
                "SELECT COUNT(*) FROM sales WHERE sync_state IN ('queued', 'sending')").fetchone()
        except sqlite3.Error:
            return 0
    return int(row[0])


def integrity(path: Path) -> tuple[list[str], dict[str, str]]:
    """PRAGMA quick_check's lines and the applied migrations (name → sha256); raises sqlite3.Error."""
    with contextlib.closing(_read_only(path)) as conn:
        quick = [str(r[0]) for r in conn.execute("PRAGMA quick_check").fetchall()]
        applied = {str(r[0]): str(r[1]) for r in conn.execute("SELECT name, sha256 FROM schema_migrations")}
    return quick, applied
