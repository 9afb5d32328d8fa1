"""Rate-limit counters and background-task leadership on PostgreSQL (docs/operations.md#workers).

A bump is one statement, INSERT … ON CONFLICT DO UPDATE … WHERE … RETURNING: the row lock of the upsert
serializes concurrent bumps of one key across workers and hosts, and the WHERE sees the latest count, so
the limit is never passed. A background task is led by whoever gets pg_try_advisory_lock for one tick; the
lock belongs to a session, so a worker that dies (or loses its connection) lets go of it at once.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator
from typing import Any

from cloud.domain.ports import RATE_WINDOW
from cloud.infrastructure.postgres.db import PgDatabase, unavailable

# The previous window's count (0 if none) weighs in; a first row is only inserted when it leaves room.
_TAKE = """
WITH prev AS (
    SELECT COALESCE(max(count), 0) * $3::float8 AS used
    FROM rate_counters WHERE key = $1 AND window_start = $2 - $5::bigint
)
INSERT INTO rate_counters AS c (key, window_start, count)
SELECT $1, $2, 1 FROM prev WHERE prev.used < $4
ON CONFLICT (key, window_start) DO UPDATE SET count = c.count + 1
    WHERE c.count + (SELECT used FROM prev) < $4
RETURNING c.count
"""
_OVER = """
SELECT COALESCE(sum(CASE WHEN window_start = $2 THEN count ELSE count * $3::float8 END), 0) >= $4
FROM rate_counters WHERE key = $1 AND window_start IN ($2, $2 - $5::bigint)
"""
_ADD = ("INSERT INTO rate_counters AS c (key, window_start, count) VALUES ($1, $2, 1) "
        "ON CONFLICT (key, window_start) DO UPDATE SET count = c.count + 1")  # fmt: skip


class PgRateCounters:
    """The RateCounters port: the UNLOGGED table rate_counters."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    async def take(self, key: str, window: int, previous_weight: float, limit: int) -> bool:
        """Count one event if under the limit; one atomic statement."""
        row = await self._db.fetch_one(_TAKE, (key, window, previous_weight, limit, RATE_WINDOW))
        return row is not None

    async def over(self, key: str, window: int, previous_weight: float, limit: int) -> bool:
        """At or past the limit? (counts nothing)."""
        row = await self._db.fetch_one(_OVER, (key, window, previous_weight, limit, RATE_WINDOW))
        return bool(row[0])

    async def add(self, key: str, window: int) -> None:
        """Count one event."""
        await self._db.fetch_all(_ADD, (key, window))

    async def purge(self, before: int) -> None:
        """Drop windows that started before `before`."""
        await self._db.fetch_all("DELETE FROM rate_counters WHERE window_start < $1", (before,))


def lock_key(task: str) -> int:
    """The advisory lock key of a task: 64 bits of SHA-256, signed as PostgreSQL's bigint."""
    return int.from_bytes(hashlib.sha256(f"mpac-pgw:{task}".encode()).digest()[:8], "big", signed=True)


class PgLeadership:
    """The Leadership port: pg_try_advisory_lock on one pooled connection, held for the block."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    @contextlib.asynccontextmanager
    async def lead(self, task: str) -> AsyncIterator[bool]:
        """True if this worker got the task's lock (another worker holding it: False, never a wait)."""
        key = lock_key(task)
        try:
            conn: Any = await self._db.pool.acquire(timeout=self._db.bounds.acquire_timeout)
        except Exception as err:  # the pool says why: server gone, timeout, pool closing
            raise unavailable(err, "background lock") from err
        try:
            leading = bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", key))
            try:
                yield leading
            finally:
                if leading:
                    with contextlib.suppress(Exception):  # a lost connection has let go of the lock already
                        await conn.execute("SELECT pg_advisory_unlock($1)", key)
        finally:
            await self._db.pool.release(conn)
