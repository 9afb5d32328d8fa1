"""The print_jobs table (migration 0100_print_jobs.sql): the SQL of the durable print queue of one printer.

Every state change is one statement guarded by the state it expects, committed through the database's one
writer before the printer worker acts on it, so a job can never be sent twice by accident.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Literal

from agent.adapters.store.database import AgentDatabase

JobState = Literal["queued", "printing", "printed", "failed", "cancelled", "held"]
JobKind = Literal["receipt", "reprint", "test"]
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


class PrintJobs:
    """The jobs of one printer in the agent database."""

    def __init__(self, database: AgentDatabase, printer: str) -> None:
        self.database, self.printer = database, printer

    async def insert(self, job_id: str, payload: bytes, kind: JobKind, receipt_id: str | None,
                     now: int) -> str:
        """Store a queued job (committed) and return its id; a receipt this printer already has returns
        that job's id instead."""
        printer = self.printer

        def _insert(conn: sqlite3.Connection) -> str:
            try:
                conn.execute(
                    "INSERT INTO print_jobs (job_id, printer, receipt_id, kind, state, payload, created_at,"
                    " queued_at, updated_at) VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?)",
                    (job_id, printer, receipt_id, kind, payload, now, now, now))
            except sqlite3.IntegrityError:
                row = conn.execute(
                    "SELECT job_id FROM print_jobs WHERE printer = ? AND receipt_id = ? AND kind = 'receipt'",
                    (printer, receipt_id)).fetchone()
                if row is None:
                    raise
                return str(row[0])
            return job_id

        return await self.database.writer.run(_insert)

    async def next_queued(self) -> tuple[str, bytes] | None:
        """The oldest queued job's id and bytes, if any."""
        row = await self.database.fetch_one(
            "SELECT job_id, payload FROM print_jobs WHERE printer = ? AND state = 'queued'"
            " ORDER BY queued_at, job_id LIMIT 1", (self.printer,))
        return (str(row[0]), bytes(row[1])) if row else None

    async def move(self, job_id: str, to: JobState, expect: tuple[JobState, ...], error: str | None,
                   now: int) -> bool:
        """Move a job from one of `expect` to `to` (committed); False if it was not in such a state."""
        marks = ", attempts = attempts + 1" if to == "printing" else ""
        marks += ", printed_at = :now" if to == "printed" else ""
        marks += ", queued_at = :now" if to == "queued" else ""
        states = ", ".join(f"'{s}'" for s in expect)  # literals from the JobState type, never user input
        sql = (f"UPDATE print_jobs SET state = :to, last_error = :err, updated_at = :now{marks}"  # noqa: S608
               f" WHERE job_id = :id AND printer = :printer AND state IN ({states})")
        args = {"to": to, "err": error, "now": now, "id": job_id, "printer": self.printer}
        return await self.database.writer.run(lambda conn: conn.execute(sql, args).rowcount == 1)

    async def hold(self, from_state: JobState, reason: str, now: int,
                   queued_before: int | None = None) -> int:
        """Hold every job of this printer in `from_state` (optionally only those queued before a time)."""
        sql = ("UPDATE print_jobs SET state = 'held', updated_at = ?, last_error = ?"
               " WHERE printer = ? AND state = ?")
        args: tuple[object, ...] = (now, reason, self.printer, from_state)
        if queued_before is not None:
            sql += " AND queued_at < ?"
            args = (*args, queued_before)
        return await self.database.writer.run(lambda conn: conn.execute(sql, args).rowcount)

    async def final_payload(self, job_id: str) -> bytes | None:
        """The bytes of a printed or cancelled job (what a reprint copies), else None."""
        row = await self.database.fetch_one(
            "SELECT payload FROM print_jobs WHERE job_id = ? AND printer = ?"
            " AND state IN ('printed', 'cancelled')", (job_id, self.printer))
        return bytes(row[0]) if row else None

    async def jobs(self, limit: int = 50, states: tuple[JobState, ...] | None = None) -> list[PrintJob]:
        """Newest jobs first (optionally only some states)."""
        where, args = "printer = ?", [self.printer]
        if states:
            where += f" AND state IN ({', '.join('?' * len(states))})"
            args += list(states)
        rows = await self.database.fetch_all(
            f"SELECT {_COLUMNS} FROM print_jobs WHERE {where} ORDER BY created_at DESC, job_id DESC"  # noqa: S608
            " LIMIT ?", (*args, limit))
        return [PrintJob(*row) for row in rows]

    async def get(self, job_id: str) -> PrintJob | None:
        """One job by id."""
        row = await self.database.fetch_one(
            f"SELECT {_COLUMNS} FROM print_jobs WHERE job_id = ?", (job_id,))  # noqa: S608
        return PrintJob(*row) if row else None
