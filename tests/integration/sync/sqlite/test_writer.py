"""The group-commit writer on a real SQLite file: one transaction per batch, failures isolated or total."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from sync.sqlite import GroupCommitWriter, WriterStopped


class Unavailable(Exception):
    """What the writer under test reports for a failed batch (each process maps to its own error)."""


@pytest.fixture
async def writer(tmp_path: Path) -> AsyncIterator[GroupCommitWriter]:
    """A writer over a fresh file with one table `t(x UNIQUE)` (created by a migration)."""
    started = GroupCommitWriter(tmp_path / "w.sqlite3", on_failure=lambda err: Unavailable(str(err)))
    await started.open([("0001_t.sql", "CREATE TABLE t (x INTEGER UNIQUE);")])
    yield started
    await started.close()


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
        """A storage-level error rolls back every job of the batch and reports on_failure's error to each."""

        def broken(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO missing_table VALUES (1)")

        results = await asyncio.gather(
            writer.run(insert(7)),
            writer.run(broken),
            return_exceptions=True,
        )
        assert all(isinstance(r, Unavailable) for r in results)
        assert stored(tmp_path) == [] and writer.last_error is not None
        assert await writer.run(insert(8)) == 8
        assert writer.last_error is None and stored(tmp_path) == [8]

    async def test_batch_handler_gets_neighbours_of_its_kind_together(
        self, writer: GroupCommitWriter, tmp_path: Path
    ) -> None:
        """Consecutive jobs of a registered kind reach its handler as one list; on_commit sees the result."""
        seen: list[list[int]] = []
        commits: list[bool] = []

        def handler(conn: sqlite3.Connection, xs: list[int]) -> list[object]:
            seen.append(list(xs))
            conn.executemany("INSERT INTO t (x) VALUES (?)", [(x,) for x in xs])
            return [x * 10 for x in xs]

        writer.register("many", handler, commits.append)
        results = await asyncio.gather(*(writer.submit("many", x) for x in range(1, 6)))
        assert results == [10, 20, 30, 40, 50] and stored(tmp_path) == [1, 2, 3, 4, 5]
        assert sum(len(s) for s in seen) == 5 and len(seen) < 5 and commits and all(commits)

    async def test_outside_transaction_runs_with_no_transaction_open(self, writer: GroupCommitWriter) -> None:
        """A maintenance job (a checkpoint) runs on the writer thread between batches, outside BEGIN."""
        await writer.run(insert(1))
        assert await writer.outside_transaction(lambda conn: conn.in_transaction) is False
        row = await writer.outside_transaction(
            lambda conn: conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone())
        assert row[0] == 0  # not busy

    async def test_migrations_apply_once_with_their_digest(self, tmp_path: Path) -> None:
        """Reopening applies nothing new; schema_migrations keeps each file's name and SHA-256."""
        files = [("0001_t.sql", "CREATE TABLE t (x INTEGER UNIQUE);")]
        again = GroupCommitWriter(tmp_path / "m.sqlite3")
        assert await again.open(files) == ["0001_t.sql"]
        await again.close()
        assert await again.open(files) == []
        await again.close()
        with sqlite3.connect(tmp_path / "m.sqlite3") as conn:
            [(name, digest)] = conn.execute("SELECT name, sha256 FROM schema_migrations").fetchall()
        assert name == "0001_t.sql" and len(digest) == 64

    async def test_closed_writer_refuses_jobs(self, writer: GroupCommitWriter) -> None:
        """After close() a job is refused with WriterStopped instead of hanging."""
        await writer.close()
        with pytest.raises(WriterStopped):
            await writer.run(insert(1))
