"""The durable print queue of one printer: what may move where, and when (its SQL is in
agent/adapters/store/print_jobs.py).

A job is stored before anything is printed; a retry never prints twice; a job left `printing` by a crash, or
queued for too long, is held for the cashier to reprint or drop instead of being printed late.
"""

from __future__ import annotations

from collections.abc import Callable

from ulid import ULID

from agent.adapters.store.print_jobs import JobKind, JobState, PrintJob, PrintJobs
from drivers.escpos.receipt import mark_copy
from sync.clock import wall_clock_ms

__all__ = ["INTERRUPTED", "STALE", "JobKind", "JobState", "PrintJob", "PrintQueue"]
INTERRUPTED = "Interrupted while printing: check the paper, reprint if it is missing."
STALE = "Waited too long for the printer: reprint or drop."


class PrintQueue:
    """The queue of one printer over its stored jobs."""

    def __init__(self, jobs: PrintJobs, clock_ms: Callable[[], int] = wall_clock_ms) -> None:
        self.store, self.printer, self._clock = jobs, jobs.printer, clock_ms

    async def enqueue(self, payload: bytes, kind: JobKind = "receipt", receipt_id: str | None = None) -> str:
        """Store a job (committed), return its id; a receipt this printer already has returns that job."""
        return await self.store.insert(f"pj_{ULID()}", payload, kind, receipt_id, self._clock())

    async def next_queued(self) -> tuple[str, bytes] | None:
        """The oldest queued job's id and bytes, if any."""
        return await self.store.next_queued()

    async def move(self, job_id: str, to: JobState, expect: tuple[JobState, ...],
                   error: str | None = None) -> bool:
        """Move a job from one of `expect` to `to` (committed); False if it was not in such a state."""
        return await self.store.move(job_id, to, expect, error, self._clock())

    async def recover_interrupted(self) -> int:
        """Jobs left 'printing' by a crash may or may not be on paper: hold them for the cashier."""
        return await self.store.hold("printing", INTERRUPTED, self._clock())

    async def hold_stale(self, max_age_s: float) -> int:
        """Queued jobs older than max_age_s are held, not blurted out late."""
        now = self._clock()
        return await self.store.hold("queued", STALE, now, queued_before=now - int(max_age_s * 1000))

    async def reprint(self, job_id: str) -> str | None:
        """Cashier: a held/failed job goes back to the queue; a printed one is copied as a 'reprint' job,
        marked 再発行 and without the drawer kick (docs/receipts.md)."""
        if await self.move(job_id, "queued", ("held", "failed")):
            return job_id
        payload = await self.store.final_payload(job_id)
        return await self.enqueue(mark_copy(payload), kind="reprint") if payload is not None else None

    async def drop(self, job_id: str) -> bool:
        """Cashier: cancel a job that has not printed."""
        return await self.move(job_id, "cancelled", ("queued", "held", "failed"))

    async def jobs(self, limit: int = 50, states: tuple[JobState, ...] | None = None) -> list[PrintJob]:
        """Newest jobs first (optionally only some states)."""
        return await self.store.jobs(limit, states)

    async def get(self, job_id: str) -> PrintJob | None:
        """One job by id."""
        return await self.store.get(job_id)
