"""The single writer: every write goes through one task that commits a whole batch in one transaction.

Group commit: while one batch is being fsynced, new requests queue up; the next batch takes all of them, so
concurrent sales share one commit (one WAL fsync with synchronous=FULL). Each caller is answered only after
its batch committed, which is what makes "durable before approved" hold.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiosqlite

from agent.errors import StoreUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_BATCH = 512

WriteFn = Callable[[aiosqlite.Connection], Awaitable[Any]]
# A batch handler takes the payloads of consecutive jobs of one kind and returns one outcome per payload
# (a value, or an exception meant for that caller alone). It runs inside the open transaction.
BatchHandler = Callable[[aiosqlite.Connection, list[Any]], Awaitable[list[Any]]]


@dataclass(slots=True)
class _Job:
    kind: str  # "fn" or the name of a registered batch handler
    payload: Any
    future: asyncio.Future[Any] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class GroupCommitWriter:
    """Owns the one write connection; `run(fn)` and `submit(kind, payload)` return after the commit."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._handlers: dict[str, BatchHandler] = {}
        self._commit_hooks: list[Callable[[bool], None]] = []
        self._task: asyncio.Task[None] | None = None
        self.last_error: str | None = None
        self.batches = 0

    def register(self, kind: str, handler: BatchHandler, on_commit: Callable[[bool], None]) -> None:
        """Add a batched job kind; `on_commit(ok)` runs after each batch commits (True) or not (False)."""
        self._handlers[kind] = handler
        self._commit_hooks.append(on_commit)

    def start(self) -> None:
        """Start the writer task."""
        self._task = asyncio.create_task(self._loop(), name="agent-store-writer")

    async def stop(self) -> None:
        """Finish the queued jobs, then stop."""
        if self._task is not None:
            await self._queue.put(None)
            await self._task
            self._task = None

    async def run(self, fn: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T:
        """Run `fn(conn)` in the next batch's transaction (a savepoint); return its result once committed."""
        result: T = await self.submit("fn", fn)
        return result

    async def submit(self, kind: str, payload: Any) -> Any:
        """Queue one job and wait for its committed outcome."""
        if self._task is None:
            raise StoreUnavailable("the store is not running")
        job = _Job(kind, payload)
        self._queue.put_nowait(job)
        outcome = await job.future
        return outcome

    async def _loop(self) -> None:
        while True:
            first = await self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                nxt = self._queue.get_nowait()
                if nxt is None:
                    self._queue.put_nowait(None)  # stop after this batch
                    break
                batch.append(nxt)
            await self._run_batch(batch)

    async def _run_batch(self, batch: list[_Job]) -> None:
        outcomes: list[Any] = []
        try:
            await self._conn.execute("BEGIN IMMEDIATE")
            for kind, jobs in _groups(batch):
                if kind == "fn":
                    for job in jobs:
                        outcomes.append(await self._run_fn(job.payload))
                else:
                    outcomes.extend(await self._handlers[kind](self._conn, [j.payload for j in jobs]))
            await self._conn.execute("COMMIT")
        except sqlite3.Error as err:
            await self._rollback()
            self.last_error = str(err)
            log.error("store write failed, batch of %d refused: %s", len(batch), err)
            self._after(ok=False)
            for job in batch:
                _settle(job.future, StoreUnavailable(str(err)))
            return
        except BaseException as err:  # a bug or cancellation: nothing may stay half-written or unanswered
            await self._rollback()
            self._after(ok=False)
            for job in batch:
                _settle(job.future, err if isinstance(err, Exception) else StoreUnavailable("writer stopped"))
            raise
        self.last_error = None
        self.batches += 1
        self._after(ok=True)
        for job, outcome in zip(batch, outcomes, strict=True):
            _settle(job.future, outcome)

    async def _run_fn(self, fn: WriteFn) -> Any:
        await self._conn.execute("SAVEPOINT job")
        try:
            result = await fn(self._conn)
        except sqlite3.IntegrityError as err:
            await self._conn.execute("ROLLBACK TO job")
            await self._conn.execute("RELEASE job")
            return err
        except sqlite3.Error:
            raise  # storage trouble fails the whole batch
        except Exception as err:
            await self._conn.execute("ROLLBACK TO job")
            await self._conn.execute("RELEASE job")
            return err
        await self._conn.execute("RELEASE job")
        return result

    async def _rollback(self) -> None:
        try:
            if self._conn.in_transaction:
                await self._conn.execute("ROLLBACK")
        except sqlite3.Error as err:
            log.error("rollback failed: %s", err)

    def _after(self, ok: bool) -> None:
        for hook in self._commit_hooks:
            hook(ok)


def _groups(batch: list[_Job]) -> list[tuple[str, list[_Job]]]:
    """Split the batch into runs of consecutive jobs of one kind, keeping the order."""
    groups: list[tuple[str, list[_Job]]] = []
    for job in batch:
        if groups and groups[-1][0] == job.kind:
            groups[-1][1].append(job)
        else:
            groups.append((job.kind, [job]))
    return groups


def _settle(future: asyncio.Future[Any], outcome: Any) -> None:
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
