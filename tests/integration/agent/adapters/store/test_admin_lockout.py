"""The admin_lockout row on a real agent database file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.adapters.store import AgentDatabase
from agent.adapters.store.admin_lockout import AdminAttempts

NOW = 1_700_000_000_000
POLICY = {"max_attempts": 3, "lock_ms": 60_000}


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[AgentDatabase]:
    """A migrated agent database in a temp folder."""
    db = await AgentDatabase.open(tmp_path / "agent.sqlite3")
    yield db
    await db.close()


class TestAdminAttempts:
    """begin / succeeded."""

    async def test_parallel_begins_are_counted_one_by_one(self, database: AgentDatabase) -> None:
        """Of 40 begins at once exactly max_attempts get 0 (may check); the rest get the lock's time left."""
        attempts = AdminAttempts(database)
        results = await asyncio.gather(*(attempts.begin(NOW, **POLICY) for _ in range(40)))
        assert results.count(0) == 3
        assert all(r == 60_000 for r in results if r)

    async def test_lock_ends_and_a_new_series_starts(self, database: AgentDatabase) -> None:
        """After the lock period the count starts from zero again."""
        attempts = AdminAttempts(database)
        for _ in range(3):
            assert await attempts.begin(NOW, **POLICY) == 0
        assert await attempts.begin(NOW + 59_000, **POLICY) == 1000
        for _ in range(3):
            assert await attempts.begin(NOW + 60_000, **POLICY) == 0
        assert await attempts.begin(NOW + 60_001, **POLICY) > 0

    async def test_clock_going_back_never_lengthens_the_lock(self, database: AgentDatabase) -> None:
        """A wall clock set back an hour leaves at most one lock period to wait."""
        attempts = AdminAttempts(database)
        for _ in range(3):
            await attempts.begin(NOW, **POLICY)
        assert await attempts.begin(NOW - 3_600_000, **POLICY) == 60_000

    async def test_success_resets(self, database: AgentDatabase) -> None:
        """succeeded() clears the count and a lock."""
        attempts = AdminAttempts(database)
        for _ in range(3):
            await attempts.begin(NOW, **POLICY)
        await attempts.succeeded(NOW)
        assert await attempts.begin(NOW, **POLICY) == 0
        row = await database.fetch_one("SELECT attempts, locked_until FROM admin_lockout")
        assert row is not None and tuple(row) == (1, 0)
