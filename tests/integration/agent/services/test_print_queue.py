"""Durable print queue on a real SQLite file: idempotent enqueue, guarded moves, holds, cashier actions."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest

from agent.adapters.store.database import AgentDatabase, migrate
from agent.adapters.store.print_jobs import PrintJobs
from agent.services.print_queue import PrintQueue


@pytest.fixture
async def queue(tmp_path: Path) -> AsyncIterator[PrintQueue]:
    """The queue of one printer over a fresh agent database."""
    database = await AgentDatabase.open(tmp_path / "agent.sqlite3")
    yield PrintQueue(PrintJobs(database, "printer"))
    await database.close()


def _state(db: Path, job_id: str) -> str:
    with sqlite3.connect(db) as conn:
        return str(conn.execute("SELECT state FROM print_jobs WHERE job_id = ?", (job_id,)).fetchone()[0])


class TestPrintQueue:
    async def test_agent_migration_runner_applies_0100(self, tmp_path: Path) -> None:
        """The agent's runner applies 0100_print_jobs.sql and records it; the queue then works on that DB."""
        path = tmp_path / "agent.sqlite3"
        applied = await migrate(path)
        assert "0100_print_jobs.sql" in applied
        database = await AgentDatabase.open(path)
        job = await PrintQueue(PrintJobs(database, "printer")).enqueue(b"bytes", receipt_id="r1")
        await database.close()
        assert _state(path, job) == "queued"

    async def test_enqueue_is_durable_and_idempotent_per_receipt(self, queue: PrintQueue) -> None:
        """A committed job is visible to another connection; the same receipt twice gives the same job."""
        first = await queue.enqueue(b"A", receipt_id="sale-1")
        again = await queue.enqueue(b"A", receipt_id="sale-1")
        other = await queue.enqueue(b"A", receipt_id="sale-1", kind="reprint")
        assert first == again != other
        assert _state(queue.store.database.path, first) == "queued"

    async def test_guarded_transitions(self, queue: PrintQueue) -> None:
        """A move only happens from the expected state, so a job cannot be printed twice."""
        job = await queue.enqueue(b"A", receipt_id="sale-2")
        assert await queue.move(job, "printing", ("queued",))
        assert not await queue.move(job, "printing", ("queued",))
        assert await queue.move(job, "printed", ("printing",))
        assert await queue.next_queued() is None
        got = await queue.get(job)
        assert got is not None and got.attempts == 1 and got.printed_at is not None

    async def test_crash_mid_print_is_held(self, queue: PrintQueue) -> None:
        """A job left 'printing' (crash) is held for the cashier, not queued again."""
        job = await queue.enqueue(b"A", receipt_id="sale-3")
        await queue.move(job, "printing", ("queued",))
        assert await queue.recover_interrupted() == 1
        assert _state(queue.store.database.path, job) == "held"

    async def test_stale_jobs_held_then_reprinted_or_dropped(self, queue: PrintQueue) -> None:
        """Jobs older than the age are held; reprint puts one back, drop cancels the other."""
        a = await queue.enqueue(b"A", receipt_id="sale-4")
        b = await queue.enqueue(b"B", receipt_id="sale-5")
        await asyncio.sleep(0.05)
        assert await queue.hold_stale(0.01) == 2
        assert await queue.reprint(a) == a and _state(queue.store.database.path, a) == "queued"
        assert await queue.drop(b) and _state(queue.store.database.path, b) == "cancelled"

    async def test_reprint_of_printed_job_is_a_copy(self, queue: PrintQueue) -> None:
        """Reprinting a printed receipt queues a new 'reprint' job with the same bytes."""
        job = await queue.enqueue(b"BYTES", receipt_id="sale-6")
        await queue.move(job, "printing", ("queued",))
        await queue.move(job, "printed", ("printing",))
        copy = await queue.reprint(job)
        assert copy is not None and copy != job
        assert await queue.next_queued() == (copy, b"BYTES")

    async def test_waits_for_another_writer(self, queue: PrintQueue) -> None:
        """While another connection holds the write lock, enqueue waits (busy_timeout) instead of failing."""
        other = await aiosqlite.connect(str(queue.store.database.path), isolation_level=None)
        await other.execute("BEGIN IMMEDIATE")
        await other.execute(
            "INSERT INTO print_jobs (job_id, printer, kind, state, payload, created_at, queued_at,"
            " updated_at) VALUES ('x', 'other', 'test', 'queued', x'00', 0, 0, 0)"
        )
        pending = asyncio.get_running_loop().create_task(queue.enqueue(b"A", receipt_id="sale-7"))
        await asyncio.sleep(0.2)
        await other.execute("COMMIT")
        await other.close()
        assert (await pending).startswith("pj_")
