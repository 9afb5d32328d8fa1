"""Opening the agent database (WAL, synchronous=FULL) and applying every migration file in lexical order."""

from __future__ import annotations

import hashlib
import re
import sqlite3
import time
from importlib import resources
from pathlib import Path

import aiosqlite

_MIGRATION_NAME = re.compile(r"^\d{4}_[A-Za-z0-9_]+\.sql$")
BUSY_TIMEOUT_MS = 5000


class MigrationError(RuntimeError):
    """A migration file could not be applied; the database is left as it was before that file."""


async def connect(path: Path, *, readonly: bool = False, max_db_bytes: int = 0) -> aiosqlite.Connection:
    """One connection with the agent's pragmas; autocommit mode, so transactions are explicit."""
    conn = await aiosqlite.connect(str(path), isolation_level=None)
    conn.row_factory = sqlite3.Row
    await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if readonly:
        await conn.execute("PRAGMA query_only = 1")
        return conn
    await conn.execute("PRAGMA journal_mode = WAL")
    # FULL: every commit syncs the WAL, so a committed sale survives a power cut, not only a crash.
    await conn.execute("PRAGMA synchronous = FULL")
    await conn.execute("PRAGMA foreign_keys = ON")
    if max_db_bytes > 0:
        async with conn.execute("PRAGMA page_size") as cur:
            row = await cur.fetchone()
        page_size = int(row[0]) if row else 4096
        await conn.execute(f"PRAGMA max_page_count = {max(1, max_db_bytes // page_size)}")
    return conn


def migration_files() -> list[tuple[str, str]]:
    """(name, sql) of every `agent/adapters/store/migrations/NNNN_*.sql`, in lexical order."""
    folder = resources.files("agent.adapters.store.migrations")
    found = [(entry.name, entry.read_text(encoding="utf-8"))
             for entry in folder.iterdir() if _MIGRATION_NAME.match(entry.name)]
    return sorted(found)


async def migrate(conn: aiosqlite.Connection) -> list[str]:
    """Apply every migration not yet in schema_migrations, each in its own transaction; return the names."""
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " name TEXT PRIMARY KEY, sha256 TEXT NOT NULL, applied_at INTEGER NOT NULL)"
    )
    async with conn.execute("SELECT name FROM schema_migrations") as cur:
        done = {row[0] for row in await cur.fetchall()}
    applied = []
    for name, sql in migration_files():
        if name in done:
            continue
        digest = hashlib.sha256(sql.encode("utf-8")).hexdigest()
        # name matches _MIGRATION_NAME and digest is hex: nothing user-controlled reaches the SQL text.
        record = (f"INSERT INTO schema_migrations (name, sha256, applied_at) "  # noqa: S608
                  f"VALUES ('{name}', '{digest}', {int(time.time() * 1000)});")
        try:
            # executescript runs the whole file; BEGIN/COMMIT around it make the file and its record atomic.
            await conn.executescript(f"BEGIN IMMEDIATE;\n{sql}\n;\n{record}\nCOMMIT;")
        except sqlite3.Error as err:
            if conn.in_transaction:
                await conn.execute("ROLLBACK")
            raise MigrationError(f"migration {name} failed: {err}") from err
        applied.append(name)
    return applied
