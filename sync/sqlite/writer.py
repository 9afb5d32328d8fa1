"""The one group-commit writer: a plain sqlite3 connection owned by one thread, one transaction per batch.

While one batch is being committed (fsynced, with synchronous=FULL), new jobs queue up; the next batch takes
all of them, so concurrent writers share one COMMIT and one fsync. Each caller is answered only after its
batch committed, which is what makes "durable before anyone is told" hold (docs/architecture.md).

A batch runs as ONE function call on the writer thread (BEGIN … COMMIT in a single hop): an awaited hop per
statement would cost more than the fsync itself. Jobs are either plain functions (`run(fn)`, each in a
savepoint so its own failure undoes only its own writes) or payloads of a registered kind, handed to that
kind's batch handler together with their neighbours of the same kind (`submit(kind, payload)`).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sync.sqlite.connect import DURABLE_PRAGMAS, connect_writer
from sync.sqlite.migrations import apply_migrations

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_BATCH = 512

# A plain job: runs on the writer thread inside the batch transaction (in its own savepoint).
WriteFn = Callable[[sqlite3.Connection], Any]
# A batch handler takes the payloads of consecutive jobs of its kind and returns one outcome per payload: a
# value, or an exception instance meant for that caller alone. Raising fails (rolls back) the whole batch.
BatchHandler = Callable[[sqlite3.Connection, list[Any]], list[Any]]
_FN = "fn"
_RAW = "raw"  # runs alone, outside any transaction (checkpoints, VACUUM)


class WriterStopped(RuntimeError):
    """The writer is not running (not opened yet, or closed)."""


@dataclass(slots=True)
class _Job:
    kind: str
    payload: Any
    future: asyncio.Future[Any] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class _BatchFailed(Exception):
    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _as_is(err: BaseException) -> BaseException:
    return err


class GroupCommitWriter:
    """`await open()`, then `run(fn)` / `submit(kind, payload)` return once their batch has committed.

    `on_failure` turns a failure of the whole batch (storage trouble: sqlite3.Error, a lost connection)
    into the exception every caller of that batch receives (each process has its own "unavailable" error).
    """

    def __init__(self, path: Path, *, pragmas: Sequence[str] = DURABLE_PRAGMAS,
                 on_failure: Callable[[BaseException], BaseException] = _as_is,
                 name: str = "sqlite-writer", max_batch: int = MAX_BATCH) -> None:
        self.path = path
        self._pragmas = tuple(pragmas)
        self._on_failure = on_failure
        self._name = name
        self._max_batch = max_batch
        self._handlers: dict[str, BatchHandler] = {}
        self._commit_hooks: list[Callable[[bool], None]] = []
        self._conn: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.last_error: str | None = None
        self.batches = 0
        self.last_commit_at = 0.0  # time.monotonic() of the last commit

    def register(self, kind: str, handler: BatchHandler,
                 on_commit: Callable[[bool], None] | None = None) -> None:
        """Add a batched job kind; `on_commit(ok)` runs on the event loop after every batch, before any
        caller is answered: ok=True once it committed, False once it was rolled back."""
        if kind in (_FN, _RAW):
            raise ValueError(f"{kind!r} is reserved")
        self._handlers[kind] = handler
        if on_commit is not None:
            self._commit_hooks.append(on_commit)

    async def open(self, migrations: Sequence[tuple[str, str]] = ()) -> list[str]:
        """Create the folder, open the connection on the writer thread, apply the migrations (returns the
        names applied), start the writer task."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self._name)
        try:
            self._conn = await self._on_thread(connect_writer, self.path, self._pragmas)
            applied = await self._on_thread(apply_migrations, self._conn, list(migrations))
        except BaseException:
            await self._close_connection()
            raise
        self._closing = False
        self._task = asyncio.create_task(self._loop(), name=self._name)
        return applied

    async def close(self) -> None:
        """Finish the queued jobs, stop, close the connection (a second call does nothing)."""
        if self._task is not None:
            self._closing = True  # a job submitted from now on would queue behind the stop marker, unanswered
            await self._queue.put(None)
            await self._task
            self._task = None
        await self._close_connection()

    async def _close_connection(self) -> None:
        if self._conn is not None:
            await self._on_thread(self._conn.close)
            self._conn = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` in the next batch (a savepoint of its own); its result once committed."""
        result: T = await self.submit(_FN, fn)
        return result

    async def outside_transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` on the writer thread between batches, in no transaction (a WAL checkpoint)."""
        result: T = await self.submit(_RAW, fn)
        return result

    async def submit(self, kind: str, payload: Any) -> Any:
        """Queue one job and wait for its committed outcome (an exception outcome is raised)."""
        if self._task is None or self._closing:
            raise WriterStopped("the database writer is not running")
        job = _Job(kind, payload)
        self._queue.put_nowait(job)
        return await job.future

    async def _on_thread(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise WriterStopped("the database writer is not running")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _loop(self) -> None:
        while True:
            first = await self._queue.get()
            if first is None:
                return
            if first.kind == _RAW:
                await self._run_raw(first)
                continue
            batch = [first]
            while len(batch) < self._max_batch and not self._queue.empty():
                nxt = self._queue.get_nowait()
                if nxt is None or nxt.kind == _RAW:  # run this batch first; the rest after it
                    _requeue_first(self._queue, nxt)
                    break
                batch.append(nxt)
            await self._run_batch(batch)

    async def _run_raw(self, job: _Job) -> None:
        try:
            outcome = await self._on_thread(job.payload, self._conn)
        except Exception as err:
            outcome = self._on_failure(err)
        _settle(job.future, outcome)

    async def _run_batch(self, batch: list[_Job]) -> None:
        work = [(job.kind, job.payload) for job in batch]
        try:
            outcomes: list[Any] = await self._on_thread(self._transaction, work)
        except BaseException as err:  # storage trouble, a bug in a handler, or the connection is gone
            cause = err.cause if isinstance(err, _BatchFailed) else err
            if isinstance(cause, asyncio.CancelledError):
                raise
            self.last_error = f"{type(cause).__name__}: {cause}"
            log.error("database write failed, batch of %d refused: %s", len(batch), self.last_error)
            self._after(ok=False)
            failure = self._on_failure(cause)
            for job in batch:
                _settle(job.future, failure)
            return
        self.last_error = None
        self.batches += 1
        self.last_commit_at = time.monotonic()
        self._after(ok=True)
        for job, outcome in zip(batch, outcomes, strict=True):
            _settle(job.future, outcome)

    def _transaction(self, work: list[tuple[str, Any]]) -> list[Any]:
        """On the writer thread: BEGIN, every job, COMMIT; on any failure ROLLBACK and raise _BatchFailed."""
        conn = self._conn
        if conn is None:
            raise WriterStopped("the database connection is closed")
        outcomes: list[Any] = []
        try:
            if conn.in_transaction:  # never expected; a leftover would make every later BEGIN fail
                conn.execute("ROLLBACK")
            conn.execute("BEGIN IMMEDIATE")
            for kind, payloads in _groups(work):
                if kind == _FN:
                    outcomes.extend(_run_fn(conn, fn) for fn in payloads)
                else:
                    outcomes.extend(self._handlers[kind](conn, payloads))
            conn.execute("COMMIT")
        except BaseException as err:  # nothing may stay half-written
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


def _requeue_first(queue: asyncio.Queue[_Job | None], job: _Job | None) -> None:
    """Put `job` back at the head of the queue (asyncio.Queue has no push-front; this keeps the order)."""
    rest = [job]
    while not queue.empty():
        rest.append(queue.get_nowait())
    for item in rest:
        queue.put_nowait(item)


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
