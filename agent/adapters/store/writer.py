"""The single writer: every write goes through one task that commits a whole batch in one transaction.

Group commit: while one batch is being fsynced, new requests queue up; the next batch takes all of them, so
concurrent sales share one commit (one WAL fsync with synchronous=FULL). Each caller is answered only after
its batch committed, which is what makes "durable before approved" hold.

A batch runs as one plain function on the aiosqlite connection's own thread (BEGIN … COMMIT in a single
hop): each awaited aiosqlite call is a thread round trip, and five of them per sale cost more than the fsync.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiosqlite

from agent.domain.errors import StoreUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_BATCH = 512

# A write job: a plain function run on the writer thread inside the batch transaction (in a savepoint).
WriteFn = Callable[[sqlite3.Connection], Any]
# A batch handler takes the payloads of consecutive jobs of one kind and returns one outcome per payload
# (a value, or an exception meant for that caller alone). It runs on the writer thread in the transaction.
BatchHandler = Callable[[sqlite3.Connection, list[Any]], list[Any]]


@dataclass(slots=True)
class _Job:
    kind: str  # "fn" or the name of a registered batch handler
    payload: Any
    future: asyncio.Future[Any] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class _BatchFailed(Exception):
    """The transaction was rolled back: storage trouble (sqlite3.Error) or a bug; nobody's job committed."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


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
        self.last_commit_at = 0.0  # time.monotonic() of the last commit

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

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` on the writer thread in the next batch (a savepoint); its result once committed."""
        result: T = await self.submit("fn", fn)
        return result

    async def submit(self, kind: str, payload: Any) -> Any:
        """Queue one job and wait for its committed outcome."""
        if self._task is None:
            raise StoreUnavailable("the store is not running")
        job = _Job(kind, payload)
        self._queue.put_nowait(job)
        return await job.future

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
        work = [(job.kind, job.payload) for job in batch]
        try:
            # aiosqlite runs every call as one function on its thread; _execute is that entry point
            # (present across the pinned 0.20-0.22). One hop per batch instead of one per statement.
            outcomes: list[Any] = await self._conn._execute(  # type: ignore[no-untyped-call]
                self._transaction, work)
        except _BatchFailed as failed:
            self._after(ok=False)
            cause = failed.cause
            if isinstance(cause, sqlite3.Error):
                self.last_error = str(cause)
                log.error("store write failed, batch of %d refused: %s", len(batch), cause)
                cause = StoreUnavailable(str(cause))
            for job in batch:
                _settle(job.future, cause)
            return
        except Exception as err:  # the connection itself is gone: answer everyone, keep the loop alive
            self.last_error = str(err)
            self._after(ok=False)
            for job in batch:
                _settle(job.future, StoreUnavailable(f"connection lost: {err}"))
            return
        self.last_error = None
        self.batches += 1
        self.last_commit_at = time.monotonic()
        self._after(ok=True)
        for job, outcome in zip(batch, outcomes, strict=True):
            _settle(job.future, outcome)

    def _transaction(self, work: list[tuple[str, Any]]) -> list[Any]:
        """On the writer thread: BEGIN, every job, COMMIT; on failure ROLLBACK and raise _BatchFailed."""
        conn = self._conn._conn  # the sqlite3 connection, only ever touched on its own thread
        assert conn is not None
        outcomes: list[Any] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for kind, payloads in _groups(work):
                if kind == "fn":
                    outcomes.extend(_run_fn(conn, fn) for fn in payloads)
                else:
                    outcomes.extend(self._handlers[kind](conn, payloads))
            conn.execute("COMMIT")
        except BaseException as err:  # storage trouble or a bug: nothing may stay half-written
            try:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            except sqlite3.Error as rollback_err:
                log.error("rollback failed: %s", rollback_err)
            raise _BatchFailed(err) from err
        return outcomes

    def _after(self, ok: bool) -> None:
        for hook in self._commit_hooks:
            hook(ok)


def _run_fn(conn: sqlite3.Connection, fn: WriteFn) -> Any:
    """One job in a savepoint: its own failure (not storage trouble) undoes only its own writes."""
    conn.execute("SAVEPOINT job")
    try:
        result = fn(conn)
    except sqlite3.IntegrityError as err:
        conn.execute("ROLLBACK TO job")
        conn.execute("RELEASE job")
        return err
    except sqlite3.Error:
        raise  # storage trouble fails the whole batch
    except Exception as err:
        conn.execute("ROLLBACK TO job")
        conn.execute("RELEASE job")
        return err
    conn.execute("RELEASE job")
    return result


def _groups(work: list[tuple[str, Any]]) -> list[tuple[str, list[Any]]]:
    """Split the batch into runs of consecutive jobs of one kind, keeping the order."""
    groups: list[tuple[str, list[Any]]] = []
    for kind, payload in work:
        if groups and groups[-1][0] == kind:
            groups[-1][1].append(payload)
        else:
            groups.append((kind, [payload]))
    return groups


def _settle(future: asyncio.Future[Any], outcome: Any) -> None:
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
