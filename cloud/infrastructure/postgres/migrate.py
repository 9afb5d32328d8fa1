"""Numbered migrations on PostgreSQL: `NNNN_name.sql` files of this package, each applied in its own
transaction with its row in schema_migrations (name, sha256, applied_at), under an advisory lock so that N
workers starting together apply each file once (docs/operations.md#running-on-postgresql).
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from sync.sqlite.migrations import MigrationError, package_migrations

# pg_advisory_lock key: any 64-bit constant that no other program on the database uses (ASCII "mpacpgwm").
MIGRATION_LOCK = 0x6D70_6163_7067_776D
_TABLE = ("CREATE TABLE IF NOT EXISTS schema_migrations ("
          " name TEXT PRIMARY KEY, sha256 TEXT NOT NULL, applied_at BIGINT NOT NULL)")  # fmt: skip


def migration_files() -> list[tuple[str, str]]:
    """(file name, sql) of every packaged PostgreSQL migration, in lexical order."""
    return package_migrations("cloud.infrastructure.postgres", "migrations")


async def apply_migrations(conn: Any, files: list[tuple[str, str]] | None = None) -> list[str]:
    """Apply the files not yet recorded, in order; return the names applied by this call.

    A file already recorded with another SHA-256 is refused (the database was migrated by another build);
    a failing file leaves the database as it was before that file.
    """
    files = migration_files() if files is None else files
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        await conn.execute(_TABLE)
        rows = await conn.fetch("SELECT name, sha256 FROM schema_migrations")
        done = {r["name"]: r["sha256"] for r in rows}
        applied = []
        for name, sql in files:
            digest = hashlib.sha256(sql.encode("utf-8")).hexdigest()
            if name in done:
                if done[name] != digest:
                    raise MigrationError(f"migration {name} was applied with other contents (sha256 "
                                         f"{done[name][:12]}…): this database belongs to another build")
                continue
            try:
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute("INSERT INTO schema_migrations (name, sha256, applied_at) "
                                       "VALUES ($1, $2, $3)", name, digest, time.time_ns() // 1_000_000)
            except Exception as err:
                raise MigrationError(f"migration {name} failed: {type(err).__name__}: {err}") from err
            applied.append(name)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
