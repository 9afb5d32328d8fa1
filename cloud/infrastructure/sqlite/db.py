"""One SQLite database in WAL mode: a writer thread with group commit, a read-only reader, migrations.

Concurrent write units share one transaction and one fsync (synchronous=FULL: a unit's future resolves only
after COMMIT returned); should one fail, the group is rerun with a SAVEPOINT per unit so it rolls back alone.
Inside `hold_writes()` a task's writes are held instead and committed later as one unit with other statements
(the Idempotency-Key record of DESIGN §5 commits in the same unit as the business rows it describes).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import signal
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from cloud.domain.errors import Conflict, StorageUnavailable, ValidationFailed

MAX_GROUP = 128
T = TypeVar("T")
_VERSION_RE = re.compile(r"^[0-9]{4}_[a-z0-9_]+$")
_TARGET_RE = re.compile(
    r"^\s*(?:INSERT(?:\s+OR\s+\w+)?\s+INTO|REPLACE\s+INTO|UPDATE(?:\s+OR\s+\w+)?|DELETE\s+FROM)"
    r"\s+\"?(\w+)",
    re.IGNORECASE,
)
_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON")


@dataclass(frozen=True, slots=True)
class Stmt:
    """One statement of a write unit; `expect_one` makes a zero-row UPDATE a Conflict (optimistic lock)."""

    sql: str
    params: Sequence[Any] = ()
    expect_one: bool = False
    many: bool = False  # params is a sequence of rows, run with one executemany (set-based insert)
    # Maps an IntegrityError of this statement to the error write() raises (None: the IntegrityError itself).
    # It lives on the statement because a held write fails only later, at its commit.
    on_integrity: Callable[[sqlite3.IntegrityError], BaseException | None] | None = None


# The statements held back by the current task (None: write() commits at once). Task-local by construction.
_HELD: ContextVar[list[Stmt] | None] = ContextVar("sqlite_held_writes", default=None)


@contextlib.contextmanager
def hold_writes() -> Iterator[list[Stmt]]:
    """Within this block, Database.write() in the current task holds its statements in the yielded list
    instead of committing them; the caller commits them (with more) through one write() afterwards.
    Only for code that never reads back what it wrote and maps write errors through Stmt.on_integrity."""
    held: list[Stmt] = []
    token = _HELD.set(held)
    try:
        yield held
    finally:
        _HELD.reset(token)


@functools.lru_cache(maxsize=1024)
def written_table(sql: str) -> str | None:
    """The table an INSERT / UPDATE / DELETE statement writes (lower case), or None."""
    found = _TARGET_RE.match(sql)
    return None if found is None else found.group(1).lower()


class StaleWrite(Conflict):
    """An UPDATE guarded by a version matched no row: someone else moved the record first."""

    code = "concurrent_update"


class UnstorableValue(ValidationFailed):
    """A statement of the unit raised something other than a database error while running (e.g. binding
    an int past SQLite's 64 bits raises OverflowError): that unit fails alone, the writer goes on."""

    code = "unstorable_value"


def migration_files() -> list[tuple[str, str]]:
    """(version, sql) of every packaged migration, in lexical order of file name."""
    folder = resources.files("cloud.infrastructure.sqlite") / "migrations"
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".sql"))
    return [(name.removesuffix(".sql"), (folder / name).read_text("utf-8")) for name in names]


async def apply_migrations(conn: aiosqlite.Connection, files: Iterable[tuple[str, str]]) -> list[str]:
    """Apply the files not yet recorded in schema_migrations, each atomically with its record."""
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)"
    )
    done = {row[0] for row in await conn.execute_fetchall("SELECT version FROM schema_migrations")}
    applied = []
    for version, sql in files:
        if version in done:
            continue
        if _VERSION_RE.match(version) is None:
            raise ValueError(f"migration file name {version!r} must look like 0001_name.sql")
        # executescript takes no parameters; the version is checked against _VERSION_RE above.
        record = f"INSERT INTO schema_migrations VALUES ('{version}', {int(time.time() * 1000)});"  # noqa: S608
        await conn.executescript(f"BEGIN IMMEDIATE;\n{sql}\n{record}\nCOMMIT;")
        applied.append(version)
    return applied


def sqlite_path(url: str) -> Path:
    """`sqlite:///relative/or/absolute/path` -> Path (`sqlite:////abs` also works)."""
    if not url.startswith("sqlite:///"):
        raise ValueError(f"not a sqlite URL: {url!r} (expected sqlite:///path)")
    return Path(url.removeprefix("sqlite:///"))


class Database:
    """A writer thread (group commit, plain sqlite3) and an aiosqlite reader on one SQLite file.

    aiosqlite offers one awaited hop per statement; a unit of five statements would then wait five times for
    the event loop to come round, and the writer would idle between them. So writes run as one function per
    group on a single-thread executor that owns the writer connection (one connection, one worker), and the
    event loop is visited once per group. Reads go through aiosqlite.
    """

    def __init__(self, path: Path, *, kill_after_insert_into: str | None = None) -> None:
        self.path = path
        # TEST-ONLY fault injection (Settings.test_kill_after_insert_into, set only by a crash test): SIGKILL
        # this process right after the COMMIT of a group that inserted into this table, before anyone is told.
        table = kill_after_insert_into
        self._kill_marker = None if table is None else f"INSERT INTO {table} "
        self._writer: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._reader: aiosqlite.Connection | None = None
        self._queue: asyncio.Queue[tuple[Sequence[Stmt], asyncio.Future[None]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._generations: dict[str, int] = {}

    async def open(self) -> None:
        """Apply migrations, open the writer and the reader, start the committer."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        async with aiosqlite.connect(self.path, isolation_level=None) as conn:
            for pragma in (*_PRAGMAS, "PRAGMA busy_timeout=10000"):
                await conn.execute(pragma)
            await apply_migrations(conn, migration_files())
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._writer = await self._in_writer(self._connect_writer)
        self._reader = await aiosqlite.connect(self.path, isolation_level=None)
        self._reader.row_factory = sqlite3.Row
        for pragma in ("PRAGMA query_only=ON", "PRAGMA busy_timeout=10000"):
            await self._reader.execute(pragma)
        self._task = asyncio.create_task(self._commit_loop(), name="sqlite-group-commit")

    def _connect_writer(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        for pragma in (*_PRAGMAS, "PRAGMA busy_timeout=10000"):
            conn.execute(pragma)
        return conn

    async def _in_writer(self, fn: Callable[..., T], *args: Any) -> T:
        assert self._executor is not None, "Database.open() first"
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def close(self) -> None:
        """Finish queued writes, stop the committer, close the connections (idempotent)."""
        if self._task is not None:
            await self._queue.join()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._reader is not None:
            await self._reader.close()
        if self._writer is not None:
            await self._in_writer(self._writer.close)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        self._reader = self._writer = self._task = self._executor = None

    def generation(self, table: str) -> int:
        """How many write groups that touched `table` this process has run: in-process read caches compare
        it to the value they saw before their read, so a write here invalidates them at once."""
        return self._generations.get(table, 0)

    def _bump(self, units: list[Sequence[Stmt]]) -> None:
        # Bumped for failed units too (cheap, and safe if a failure left anything behind).
        for table in {written_table(s.sql) for unit in units for s in unit}:
            if table is not None:
                self._generations[table] = self._generations.get(table, 0) + 1

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Rows of a read on the reader (sees committed data only)."""
        assert self._reader is not None, "Database.open() first"
        try:
            return list(await self._reader.execute_fetchall(sql, params))
        except sqlite3.OperationalError as err:
            raise StorageUnavailable(f"the database refused the read: {type(err).__name__}") from err

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """The first row of a read, or None."""
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    async def write(self, stmts: Sequence[Stmt]) -> None:
        """Run the statements as one atomic unit; returns after the COMMIT that made them durable
        (inside hold_writes(): returns at once, the statements held for the caller's later commit)."""
        held = _HELD.get()
        if held is not None:
            held.extend(stmts)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((stmts, future))  # unbounded: never waits
        await future

    async def _commit_loop(self) -> None:
        while True:
            group = [await self._queue.get()]
            while not self._queue.empty() and len(group) < MAX_GROUP:
                group.append(self._queue.get_nowait())
            units = [stmts for stmts, _ in group]
            errors: list[BaseException | None]
            try:
                errors = await self._in_writer(_commit_group, self._writer, units)
            except Exception as err:  # whatever it was: this group fails, the writer goes on
                failure = StorageUnavailable(f"the database refused the write: {type(err).__name__}")
                failure.__cause__ = err
                errors = [failure] * len(group)
            finally:
                self._bump(units)  # before anyone waiting on this group is told it committed
                for _ in group:
                    self._queue.task_done()
            if self._kill_marker is not None:
                self._kill_if_marked([s for (s, _), e in zip(group, errors, strict=True) if e is None])
            for (_, future), error in zip(group, errors, strict=True):
                if future.done():
                    continue
                if error is None:
                    future.set_result(None)
                else:
                    future.set_exception(error)

    def _kill_if_marked(self, committed: list[Sequence[Stmt]]) -> None:
        marker = self._kill_marker
        if marker is not None and any(s.sql.startswith(marker) for unit in committed for s in unit):
            os.kill(os.getpid(), signal.SIGKILL)


def _commit_group(conn: sqlite3.Connection | None, units: list[Sequence[Stmt]]) -> list[BaseException | None]:
    """In the writer thread: one transaction and one COMMIT (one fsync) for all units.

    The units first run back to back. Only if one fails is the transaction rolled back and run again with a
    SAVEPOINT per unit, so that unit fails alone: failures are rare, and savepoints on the common path cost
    two more statements (two more GIL round trips with the event loop) per unit, ~6% of a create's CPU.
    """
    assert conn is not None
    if conn.in_transaction:  # never expected; a leftover would make every later BEGIN fail
        conn.execute("ROLLBACK")
    try:
        conn.execute("BEGIN IMMEDIATE")
        errors: list[BaseException | None] = [None] * len(units)
        try:
            for stmts in units:
                _execute(conn, stmts)
        except _Failed:
            if conn.in_transaction:  # some errors (disk full, I/O) have rolled back already
                conn.execute("ROLLBACK")
            conn.execute("BEGIN IMMEDIATE")
            errors = [_run_unit(conn, stmts) for stmts in units]
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return errors


class _Failed(Exception):
    def __init__(self, stmt: Stmt, err: Exception) -> None:
        super().__init__(str(err))
        self.stmt, self.err = stmt, err


def _execute(conn: sqlite3.Connection, stmts: Sequence[Stmt]) -> None:
    for stmt in stmts:
        try:
            if stmt.many:
                cursor = conn.executemany(stmt.sql, stmt.params)
            else:
                cursor = conn.execute(stmt.sql, stmt.params)
            if stmt.expect_one and cursor.rowcount != 1:
                raise StaleWrite("the record was changed by another request; retry")
        except (sqlite3.Error, StaleWrite) as err:
            raise _Failed(stmt, err) from err
        except Exception as err:  # e.g. OverflowError binding a huge int: this unit's fault alone
            table = written_table(stmt.sql) or "the database"
            # The exception's text can quote the value; only its type is told (the cause keeps the rest).
            refused = UnstorableValue(f"a value could not be stored in {table}: {type(err).__name__}")
            refused.__cause__ = err
            raise _Failed(stmt, refused) from err


def _run_unit(conn: sqlite3.Connection, stmts: Sequence[Stmt]) -> BaseException | None:
    conn.execute("SAVEPOINT unit")
    try:
        _execute(conn, stmts)
    except _Failed as failed:  # this unit fails alone; the group's other units stay
        conn.execute("ROLLBACK TO unit")
        conn.execute("RELEASE unit")
        return _mapped(failed.stmt, failed.err)
    conn.execute("RELEASE unit")
    return None


def _mapped(stmt: Stmt, err: Exception) -> BaseException:
    """The error a failed statement reports: its on_integrity mapping of an IntegrityError, else the error."""
    if not isinstance(err, sqlite3.IntegrityError) or stmt.on_integrity is None:
        return err
    mapped = stmt.on_integrity(err)
    if mapped is None:
        return err
    mapped.__cause__ = err
    return mapped
