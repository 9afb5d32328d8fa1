"""The agent's one database: the shared group-commit writer, one read-only reader, a background checkpointer.

Every write to the agent's SQLite file (sales, outbox states, print jobs, the QR mirror, expiry) goes through
`writer`, so the file has exactly one writer connection; reads go through `reader`, which sees committed data
only (docs/architecture.md, "One SQLite core").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from agent.domain.errors import StoreUnavailable
from sync.sqlite import DURABLE_PRAGMAS, GroupCommitWriter, connect_reader, package_migrations

log = logging.getLogger(__name__)
CHECKPOINT_POLL_S = 0.1
CHECKPOINT_IDLE_S = 0.2  # no commit for this long: the till is between customers
CHECKPOINT_MAX_WAIT_S = 10.0  # under steady load, checkpoint anyway this often
# Kept at SQLite's 1000 pages on purpose: a larger threshold lets the WAL file grow, and an fsync that also
# grows the file cost p90 ~3.8 ms instead of ~1.2 ms per sale here (bench/agent_capture.py). Between
# customers the checkpointer runs in the background, so the inline one is rarely needed.
WRITER_AUTOCHECKPOINT_PAGES = 1000
PAGE_SIZE = 4096  # SQLite's default, which this database never changes


def migrations() -> list[tuple[str, str]]:
    """Every `agent/adapters/store/migrations/NNNN_*.sql`, in order."""
    return package_migrations("agent.adapters.store.migrations")


def _unavailable(err: BaseException) -> BaseException:
    if isinstance(err, StoreUnavailable):
        return err
    return StoreUnavailable(str(err) if isinstance(err, sqlite3.Error) else f"connection lost: {err}")


def writer_pragmas(max_db_bytes: int = 0) -> Sequence[str]:
    """The durable pragmas, the autocheckpoint threshold and, with a quota, the page limit."""
    pragmas = [*DURABLE_PRAGMAS, f"PRAGMA wal_autocheckpoint = {WRITER_AUTOCHECKPOINT_PAGES}"]
    if max_db_bytes > 0:
        pragmas.append(f"PRAGMA max_page_count = {max(1, max_db_bytes // PAGE_SIZE)}")
    return pragmas


def _writer(path: Path, max_db_bytes: int, name: str) -> GroupCommitWriter:
    return GroupCommitWriter(path, pragmas=writer_pragmas(max_db_bytes), on_failure=_unavailable, name=name)


class AgentDatabase:
    """Open with `await AgentDatabase.open(path)`; close with `await db.close()`."""

    def __init__(self, path: Path, writer: GroupCommitWriter, reader: aiosqlite.Connection) -> None:
        self.path = path
        self.writer = writer
        self.reader = reader
        self._checkpointer: asyncio.Task[None] | None = None
        self._closed = False

    @classmethod
    async def open(cls, path: Path, *, max_db_bytes: int = 0) -> AgentDatabase:
        """Create the folder, open the writer (migrating the schema) and the reader, start the checkpointer.

        Raises MigrationError if a migration fails (the database stays as it was before that file)."""
        writer = _writer(path, max_db_bytes, "agent-db-writer")
        try:
            await writer.open(migrations())
        except sqlite3.Error as err:  # a MigrationError (not an sqlite3.Error) passes through as it is
            raise StoreUnavailable(f"cannot open the database {path}: {err}") from err
        try:
            reader = await connect_reader(path)
        except BaseException:
            await writer.close()
            raise
        database = cls(path, writer, reader)
        database._checkpointer = asyncio.create_task(database._checkpoint_loop(), name="agent-db-checkpoint")
        return database

    async def close(self) -> None:
        """Finish queued writes, then close both connections (a second call does nothing)."""
        if self._closed:
            return
        self._closed = True
        if self._checkpointer is not None:
            self._checkpointer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpointer
        await self.writer.close()
        await self.reader.close()

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Rows of one read on the reader."""
        return list(await self.reader.execute_fetchall(sql, params))

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """The first row of one read, or None."""
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    async def _checkpoint_loop(self) -> None:
        """Copy the WAL into the database off the sale path, preferably between sales (a checkpoint's fsync
        of the database file delays a concurrent sale's WAL fsync); the writer's own is the last resort."""
        last = time.monotonic()
        while True:
            await asyncio.sleep(CHECKPOINT_POLL_S)
            now = time.monotonic()
            committed = self.writer.last_commit_at
            idle = now - committed >= CHECKPOINT_IDLE_S
            if not (idle or now - last >= CHECKPOINT_MAX_WAIT_S) or committed <= last:
                continue
            last = now
            try:
                await self.writer.outside_transaction(_checkpoint)
            except (sqlite3.Error, StoreUnavailable) as err:  # busy or read-only: try again next time
                log.debug("checkpoint skipped: %s", err)


def _checkpoint(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")


async def migrate(path: Path) -> list[str]:
    """Bring the database file at `path` to the current schema (creating it); return the files applied."""
    writer = _writer(path, 0, "agent-db-migrate")
    applied = await writer.open(migrations())
    await writer.close()
    return applied
