"""The group-commit writer on a real SQLite file: one transaction per batch, failures isolated or total."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from agent.adapters.store import db
from agent.adapters.store.writer import GroupCommitWriter
from agent.domain.errors import StoreUnavailable


@pytest.fixture
async def writer(tmp_path: Path) -> AsyncIterator[GroupCommitWriter]:
    """A writer over a fresh file with one table `t(x UNIQUE)`."""
    conn = await db.connect(tmp_path / "w.sqlite3")
    await conn.execute("CREATE TABLE t (x INTEGER UNIQUE)")
    started = GroupCommitWriter(conn)
    started.start()
    yield started
    await started.stop()
    await conn.close()


def insert(x: int) -> Callable[[sqlite3.Connection], int]:
    """A write job inserting x."""

    def job(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT INTO t (x) VALUES (?)", (x,))
        return x

    return job


def stored(tmp_path: Path) -> list[int]:
    """What another connection sees committed."""
    with sqlite3.connect(tmp_path / "w.sqlite3") as conn:
        return [r[0] for r in conn.execute("SELECT x FROM t ORDER BY x")]


class TestGroupCommitWriter:
    async def test_concurrent_jobs_share_transactions(
        self, writer: GroupCommitWriter, tmp_path: Path
    ) -> None:
        """100 concurrent jobs all commit, in fewer transactions than jobs."""
        results = await asyncio.gather(*(writer.run(insert(i)) for i in range(100)))
        assert results == list(range(100)) and stored(tmp_path) == list(range(100))
        assert writer.batches < 100

    async def test_one_failing_job_does_not_undo_the_others(
        self, writer: GroupCommitWriter, tmp_path: Path
    ) -> None:
        """A job hitting a constraint gets its error; the jobs batched with it still commit."""
        await writer.run(insert(1))
        results: list[object] = list(
            await asyncio.gather(*(writer.run(insert(x)) for x in (2, 1, 3)), return_exceptions=True)
        )
        assert results[0] == 2 and isinstance(results[1], sqlite3.IntegrityError) and results[2] == 3
        assert stored(tmp_path) == [1, 2, 3]

    async def test_storage_error_fails_the_whole_batch(
        self, writer: GroupCommitWriter, tmp_path: Path
    ) -> None:
        """A storage-level error rolls back every job of the batch and reports StoreUnavailable to each."""

        def broken(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO missing_table VALUES (1)")

        results = await asyncio.gather(
            writer.run(insert(7)),
            writer.run(broken),
            return_exceptions=True,
        )
        assert all(isinstance(r, StoreUnavailable) for r in results)
        assert stored(tmp_path) == [] and writer.last_error is not None
        assert await writer.run(insert(8)) == 8
        assert writer.last_error is None and stored(tmp_path) == [8]
