"""Durable print queue in the agent's SQLite (migration 0100_print_jobs.sql), on this module's own connection.

The agent's writer connection is not shared: WAL lets this connection commit beside it, busy_timeout waits out
its group commits. Every state change is one autocommitted statement, guarded by the state it expects, so a
transition is durable before the printer worker acts on it and a job can never be sent twice by accident.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import aiosqlite
from ulid import ULID

JobState = Literal["queued", "printing", "printed", "failed", "cancelled", "held"]
JobKind = Literal["receipt", "reprint", "test"]
INTERRUPTED = "Interrupted while printing: check the paper, reprint if it is missing."
STALE = "Waited too long for the printer: reprint or drop."
_COLUMNS = "job_id, printer, receipt_id, kind, state, attempts, last_error, created_at, queued_at, printed_at"


@dataclass(frozen=True, slots=True)
class PrintJob:
    """One job without its bytes (JSON-friendly for the status page)."""

    job_id: str
    printer: str
    receipt_id: str | None
    kind: str
    state: str
    attempts: int
    last_error: str | None
    created_at: int
    queued_at: int
    printed_at: int | None


def _now_ms() -> int:
    return int(time.time() * 1000)


class PrintQueue:
    """The queue of one printer."""

    def __init__(self, db_path: Path, printer: str, busy_timeout_ms: int = 5000) -> None:
        self.db_path, self.printer, self.busy_timeout_ms = db_path, printer, busy_timeout_ms
        self._db: aiosqlite.Connection | None = None

    async def open(self) -> None:
        """Connect (WAL, synchronous=FULL, busy_timeout) and make sure the table exists."""
        db = await aiosqlite.connect(str(self.db_path), isolation_level=None)
        await db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        await db.execute("PRAGMA journal_mode = WAL")
        await db.execute("PRAGMA synchronous = FULL")
        async with db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='print_jobs'") as cur:
            exists = await cur.fetchone() is not None
        if not exists:
            # Normally the agent's migration runner applied it already; the file is idempotent either way.
            sql = (resources.files("agent.adapters.store.migrations")
                   .joinpath("0100_print_jobs.sql").read_text("utf-8"))
            await db.executescript(sql)
        self._db = db

    async def close(self) -> None:
        """Close the connection."""
        if self._db is not None:
            await self._db.close()
            self._db = None

    @property
    def db(self) -> aiosqlite.Connection:
        """The open connection."""
        if self._db is None:
            raise RuntimeError("print queue is not open")
        return self._db

    async def enqueue(self, payload: bytes, kind: JobKind = "receipt", receipt_id: str | None = None) -> str:
        """Store a job (committed), return its id; a receipt this printer already has returns that job."""
        job_id, now = f"pj_{ULID()}", _now_ms()
        try:
            await self.db.execute(
                "INSERT INTO print_jobs (job_id, printer, receipt_id, kind, state, payload, created_at,"
                " queued_at, updated_at) VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?)",
                (job_id, self.printer, receipt_id, kind, payload, now, now, now),
            )
        except sqlite3.IntegrityError:
            async with self.db.execute(
                "SELECT job_id FROM print_jobs WHERE printer = ? AND receipt_id = ? AND kind = 'receipt'",
                (self.printer, receipt_id),
            ) as cur:
                row = await cur.fetchone()
            if row is None:
                raise
            return str(row[0])
        return job_id

    async def next_queued(self) -> tuple[str, bytes] | None:
        """The oldest queued job's id and bytes, if any."""
        async with self.db.execute(
            "SELECT job_id, payload FROM print_jobs WHERE printer = ? AND state = 'queued'"
            " ORDER BY queued_at, job_id LIMIT 1", (self.printer,),
        ) as cur:
            row = await cur.fetchone()
        return (str(row[0]), bytes(row[1])) if row else None

    async def move(
        self, job_id: str, to: JobState, expect: tuple[JobState, ...], error: str | None = None
    ) -> bool:
        """Move a job from one of `expect` to `to` (committed); False if it was not in such a state."""
        now = _now_ms()
        marks = ", attempts = attempts + 1" if to == "printing" else ""
        marks += ", printed_at = :now" if to == "printed" else ""
        marks += ", queued_at = :now" if to == "queued" else ""
        states = ", ".join(f"'{s}'" for s in expect)  # literals from the JobState type, never user input
        cur = await self.db.execute(
            f"UPDATE print_jobs SET state = :to, last_error = :err, updated_at = :now{marks}"  # noqa: S608
            f" WHERE job_id = :id AND printer = :printer AND state IN ({states})",
            {"to": to, "err": error, "now": now, "id": job_id, "printer": self.printer},
        )
        return cur.rowcount == 1

    async def recover_interrupted(self) -> int:
        """Jobs left 'printing' by a crash may or may not be on paper: hold them for the cashier."""
        cur = await self.db.execute(
            "UPDATE print_jobs SET state = 'held', updated_at = ?, last_error = ?"
            " WHERE printer = ? AND state = 'printing'",
            (_now_ms(), INTERRUPTED, self.printer),
        )
        return cur.rowcount

    async def hold_stale(self, max_age_s: float) -> int:
        """Queued jobs older than max_age_s are held, not blurted out late."""
        now = _now_ms()
        cur = await self.db.execute(
            "UPDATE print_jobs SET state = 'held', updated_at = ?, last_error = ?"
            " WHERE printer = ? AND state = 'queued' AND queued_at < ?",
            (now, STALE, self.printer, now - int(max_age_s * 1000)),
        )
        return cur.rowcount

    async def reprint(self, job_id: str) -> str | None:
        """Cashier: a held/failed job goes back to the queue; a printed one is copied as a 'reprint' job."""
        if await self.move(job_id, "queued", ("held", "failed")):
            return job_id
        async with self.db.execute(
            "SELECT payload FROM print_jobs WHERE job_id = ? AND printer = ?"
            " AND state IN ('printed', 'cancelled')",
            (job_id, self.printer),
        ) as cur:
            row = await cur.fetchone()
        return await self.enqueue(bytes(row[0]), kind="reprint") if row else None

    async def drop(self, job_id: str) -> bool:
        """Cashier: cancel a job that has not printed."""
        return await self.move(job_id, "cancelled", ("queued", "held", "failed"))

    async def jobs(self, limit: int = 50, states: tuple[JobState, ...] | None = None) -> list[PrintJob]:
        """Newest jobs first (optionally only some states)."""
        where, args = "printer = ?", [self.printer]
        if states:
            where += f" AND state IN ({', '.join('?' * len(states))})"
            args += list(states)
        async with self.db.execute(
            f"SELECT {_COLUMNS} FROM print_jobs WHERE {where} ORDER BY created_at DESC, job_id DESC"  # noqa: S608
            " LIMIT ?", (*args, limit),
        ) as cur:
            rows = await cur.fetchall()
        return [PrintJob(*row) for row in rows]

    async def get(self, job_id: str) -> PrintJob | None:
        """One job by id."""
        async with self.db.execute(f"SELECT {_COLUMNS} FROM print_jobs WHERE job_id = ?", (job_id,)) as cur:  # noqa: S608
            row = await cur.fetchone()
        return PrintJob(*row) if row else None
