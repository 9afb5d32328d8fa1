"""Rate-limit counters and background-task leases on SQLite, shared by every process on the file
(docs/operations.md#workers).

Each call is one job of the group-commit writer: it runs inside the writer's BEGIN IMMEDIATE transaction,
which holds the file's write lock, so a read-then-bump is atomic across processes too.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

from cloud.domain.errors import StorageUnavailable
from cloud.domain.ports import RATE_WINDOW, Clock
from cloud.infrastructure.sqlite.db import Database
from cloud.infrastructure.sqlite.intents import ms
from sync.sqlite import WriterStopped

T = TypeVar("T")

LEASE_SECONDS = 120.0  # a leader that died mid-tick (SIGKILL) holds its task at most this long

_BUMP = ("INSERT INTO rate_counters (key, window_start, count) VALUES (?, ?, 1) "
         "ON CONFLICT (key, window_start) DO UPDATE SET count = count + 1 WHERE count < ? RETURNING count")
_RELEASE = "UPDATE worker_leases SET until = 0 WHERE task = ? AND holder = ?"
_COUNT = "SELECT count FROM rate_counters WHERE key = ? AND window_start = ?"


async def _on_writer(db: Database, fn: Callable[[sqlite3.Connection], T]) -> T:
    """One job in the writer's next group; its result once committed."""
    try:
        return await db.writer.run(fn)
    except WriterStopped as err:
        raise StorageUnavailable("the database is closed") from err


class SqliteRateCounters:
    """The RateCounters port: table rate_counters."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def take(self, key: str, window: int, previous_weight: float, limit: int) -> bool:
        """Count one event if under the limit (one writer job: atomic across processes)."""

        def bump(conn: sqlite3.Connection) -> bool:
            previous = conn.execute(_COUNT, (key, window - RATE_WINDOW)).fetchone()
            room = limit - (previous[0] if previous else 0) * previous_weight
            if room <= 0:
                return False
            return conn.execute(_BUMP, (key, window, room)).fetchone() is not None

        return await self._run(bump)

    async def over(self, key: str, window: int, previous_weight: float, limit: int) -> bool:
        """At or past the limit? (a read of committed rows)."""
        rows = await self._db.fetch_all(
            "SELECT window_start, count FROM rate_counters WHERE key = ? AND window_start IN (?, ?)",
            (key, window - RATE_WINDOW, window),
        )
        counts: dict[int, int] = {r["window_start"]: r["count"] for r in rows}
        return counts.get(window - RATE_WINDOW, 0) * previous_weight + counts.get(window, 0) >= limit

    async def add(self, key: str, window: int) -> None:
        """Count one event."""
        await self._run(lambda conn: conn.execute(
            "INSERT INTO rate_counters (key, window_start, count) VALUES (?, ?, 1) "
            "ON CONFLICT (key, window_start) DO UPDATE SET count = count + 1", (key, window)))  # fmt: skip

    async def purge(self, before: int) -> None:
        """Drop windows that started before `before`."""
        await self._run(lambda conn: conn.execute("DELETE FROM rate_counters WHERE window_start < ?",
                                                  (before,)))  # fmt: skip

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await _on_writer(self._db, fn)


def holder_name() -> str:
    """A name no other worker process has (host, pid, random)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class SqliteLeadership:
    """The Leadership port: a lease row per task in worker_leases, taken for one tick and given back."""

    def __init__(self, db: Database, clock: Clock, holder: str | None = None) -> None:
        self._db, self._clock = db, clock
        self.holder = holder or holder_name()

    @contextlib.asynccontextmanager
    async def lead(self, task: str) -> AsyncIterator[bool]:
        """Take the lease if it is free (or expired, or ours); give it back after the block."""
        now = ms(self._clock())

        def take(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                "INSERT INTO worker_leases (task, holder, until) VALUES (?, ?, ?)"
                " ON CONFLICT (task) DO UPDATE SET holder = excluded.holder, until = excluded.until"
                " WHERE worker_leases.until <= ? OR worker_leases.holder = excluded.holder RETURNING holder",
                (task, self.holder, now + ms(LEASE_SECONDS), now),
            ).fetchone()
            return row is not None

        leading = await _on_writer(self._db, take)
        try:
            yield leading
        finally:
            if leading:
                with contextlib.suppress(StorageUnavailable):  # closing: the lease runs out by itself
                    await _on_writer(self._db, lambda conn: conn.execute(_RELEASE, (task, self.holder)))
