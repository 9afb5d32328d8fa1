"""The admin_lockout row: admin password attempts counted in the agent's database (docs/local-web.md).

An attempt is counted *before* its password is checked, in one writer job, so of any number of parallel
attempts at most `max_attempts` are checked before the lock; the row survives a restart of the agent. The
policy (how many, how long) is the caller's.
"""

from __future__ import annotations

import sqlite3

from agent.adapters.store.database import AgentDatabase

_READ = "SELECT attempts, locked_until FROM admin_lockout WHERE id = 1"
_WRITE = ("INSERT INTO admin_lockout (id, attempts, locked_until, updated_at) VALUES (1, ?, ?, ?) "
          "ON CONFLICT (id) DO UPDATE SET attempts = excluded.attempts, "
          "locked_until = excluded.locked_until, updated_at = excluded.updated_at")


class AdminAttempts:
    """`begin(...)` before a password check, `succeeded(now)` after a right one."""

    def __init__(self, database: AgentDatabase) -> None:
        self._db = database

    async def begin(self, now_ms: int, *, max_attempts: int, lock_ms: int) -> int:
        """Count one attempt and return 0, or return the ms left of the lock (then nothing is counted).

        The attempt that reaches `max_attempts` sets the lock as it is counted: it is still checked, and
        every later one waits `lock_ms`."""
        return await self._db.writer.run(lambda conn: _begin(conn, now_ms, max_attempts, lock_ms))

    async def succeeded(self, now_ms: int) -> None:
        """A right password: the count starts again and a lock (set by this attempt's count) is lifted."""
        await self._db.writer.run(lambda conn: conn.execute(_WRITE, (0, 0, now_ms)))


def _begin(conn: sqlite3.Connection, now: int, max_attempts: int, lock_ms: int) -> int:
    row = conn.execute(_READ).fetchone()
    attempts, until = (int(row[0]), int(row[1])) if row else (0, 0)
    if until > now + lock_ms:  # the wall clock went back: a lock never lasts longer than one period
        until = now + lock_ms
        conn.execute(_WRITE, (attempts, until, now))
    if now < until:
        return until - now
    if attempts >= max_attempts:  # the last lock is over: a fresh series of attempts
        attempts = 0
    attempts += 1
    conn.execute(_WRITE, (attempts, now + lock_ms if attempts >= max_attempts else 0, now))
    return 0
