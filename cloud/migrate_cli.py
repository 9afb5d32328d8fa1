"""`mpac-pgw migrate [--db URL]`: apply the database migrations this build carries, and say which.

On PostgreSQL this is the explicit step of a deployment (docs/operations.md#running-on-postgresql): run it
once before starting new workers. It takes the same advisory lock as `serve`, so it is safe beside workers
that are starting. On SQLite it applies the same files `serve` would apply at start.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

from cloud.infrastructure.postgres.db import PgDatabase, PoolBounds, is_postgres_url, redacted
from cloud.infrastructure.sqlite.db import migration_files, sqlite_path
from cloud.settings import Settings
from sync.sqlite import apply_migrations


def add_migrate_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], db_help: str) -> None:
    """Register `migrate`."""
    p = sub.add_parser("migrate", help="apply the database migrations (then exit)",
                       description="Apply the migrations this build carries and print JSON naming the ones "
                       "applied now; exit 2 if the database cannot be reached or refuses one.")  # fmt: skip
    p.add_argument("--db", help=db_help)


async def migrate(settings: Settings) -> dict[str, object]:
    """Apply what is missing; {"database", "applied"}."""
    if is_postgres_url(settings.db_url):
        db = PgDatabase(settings.db_url, PoolBounds(min_size=1, max_size=1))
        await db.open(migrate=False)
        try:
            applied = await db.migrate()
        finally:
            await db.close()
        return {"database": redacted(settings.db_url), "applied": applied}
    applied = await asyncio.to_thread(_sqlite_migrate, sqlite_path(settings.db_url))
    return {"database": settings.db_url, "applied": applied}


def _sqlite_migrate(path: Path) -> list[str]:
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        return apply_migrations(conn, migration_files())
