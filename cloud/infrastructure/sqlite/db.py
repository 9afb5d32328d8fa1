"""One SQLite database in WAL mode: writes through the shared group-commit writer (sync.sqlite), reads on a
read-only aiosqlite connection, migrations by the shared runner.

Concurrent write units share one transaction and one fsync (synchronous=FULL: a unit's future resolves only
after COMMIT returned); should one fail, the group is rerun with a SAVEPOINT per unit so it rolls back alone.
A unit is what a unit of work (unit_of_work.py) staged in its Pending list: repositories stage statements,
commit() writes them with one Database.write.
"""

from __future__ import annotations

import functools
import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from cloud.domain.errors import Conflict, StorageUnavailable, ValidationFailed
from sync.sqlite import GroupCommitWriter, WriterStopped, connect_reader, package_migrations
from sync.telemetry import span

MAX_GROUP = 128
UNITS = "units"  # the writer's batch kind: a list of Stmt units, run by run_units
_DB_SPAN = {"db.system.name": "sqlite"}  # no statement text: docs/observability.md
_TARGET_RE = re.compile(
    r"^\s*(?:INSERT(?:\s+OR\s+\w+)?\s+INTO|REPLACE\s+INTO|UPDATE(?:\s+OR\s+\w+)?|DELETE\s+FROM)"
    r"\s+\"?(\w+)",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Stmt:
    """One statement of a write unit; `expect_one` makes a zero-row UPDATE a Conflict (optimistic lock)."""

    sql: str
    params: Sequence[Any] = ()
    expect_one: bool = False
    many: bool = False  # params is a sequence of rows, run with one executemany (set-based insert)
    # Maps an IntegrityError of this statement to the error write() raises (None: the IntegrityError itself).
    # It lives on the statement because a staged write fails only later, at its unit of work's commit.
    on_integrity: Callable[[sqlite3.IntegrityError], BaseException | None] | None = None
    on_stale: Callable[[StaleWrite], BaseException] | None = None  # maps the StaleWrite of expect_one


class Pending:
    """The statements a unit of work has staged so far, in order (its repositories share one)."""

    __slots__ = ("stmts",)

    def __init__(self) -> None:
        self.stmts: list[Stmt] = []

    def add(self, stmts: Sequence[Stmt], *, first: bool = False) -> None:
        """Stage statements after (or, with `first`, before) those already staged."""
        if first:
            self.stmts[:0] = stmts
        else:
            self.stmts.extend(stmts)


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
    """(file name, sql) of every packaged migration, in lexical order of file name."""
    return package_migrations("cloud.infrastructure.sqlite", "migrations")


def sqlite_path(url: str) -> Path:
    """`sqlite:///relative/or/absolute/path` -> Path (`sqlite:////abs` also works)."""
    if not url.startswith("sqlite:///"):
        raise ValueError(f"not a sqlite URL: {url!r} (expected sqlite:///path)")
    return Path(url.removeprefix("sqlite:///"))


def _unavailable(err: BaseException) -> BaseException:
    failure = StorageUnavailable(f"the database refused the write: {type(err).__name__}")
    failure.__cause__ = err
    return failure


class Database:
    """The shared GroupCommitWriter (one thread, one plain sqlite3 connection) and an aiosqlite reader.

    aiosqlite offers one awaited hop per statement; a unit of five statements would then wait five times for
    the event loop to come round. So a write is one job of kind UNITS, and the writer runs a whole group of
    them as one function call on its thread (run_units), visiting the event loop once per group.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.writer = GroupCommitWriter(path, on_failure=_unavailable, name="sqlite-writer",
                                        max_batch=MAX_GROUP)  # fmt: skip
        self.writer.register(UNITS, self._run_units, on_commit=self._committed)
        self._reader: aiosqlite.Connection | None = None
        self._generations: dict[str, int] = {}
        self._touched: set[str] = set()  # tables written by the group being committed (writer thread)

    async def open(self) -> None:
        """Open the writer (applying the migrations) and the reader.

        Fresh databases only: the shared runner's schema_migrations (name, sha256, applied_at) differs from
        the cloud's former one (version, applied_at), and files made by that older build are not migrated.
        """
        await self.writer.open(migration_files())
        self._reader = await connect_reader(self.path)

    async def close(self) -> None:
        """Finish queued writes, stop the writer, close the reader (idempotent)."""
        await self.writer.close()
        if self._reader is not None:
            await self._reader.close()
        self._reader = None

    def generation(self, table: str) -> int:
        """How many write groups that touched `table` this process has run: in-process read caches compare
        it to the value they saw before their read, so a write here invalidates them at once."""
        return self._generations.get(table, 0)

    def _run_units(self, conn: sqlite3.Connection, units: list[Sequence[Stmt]]) -> list[BaseException | None]:
        # Recorded before running: failed units bump too (cheap, and safe if a failure left anything behind).
        self._touched.update(t for unit in units for s in unit if (t := written_table(s.sql)) is not None)
        return run_units(conn, units)

    def _committed(self, ok: bool) -> None:
        """On the event loop after every group, before its callers are answered: bump the read caches."""
        touched, self._touched = self._touched, set()
        for table in touched:
            self._generations[table] = self._generations.get(table, 0) + 1

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Rows of a read on the reader (sees committed data only)."""
        assert self._reader is not None, "Database.open() first"
        try:
            with span("db.read", _DB_SPAN):
                return list(await self._reader.execute_fetchall(sql, params))
        except sqlite3.OperationalError as err:
            raise StorageUnavailable(f"the database refused the read: {type(err).__name__}") from err

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """The first row of a read, or None."""
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    async def write(self, stmts: Sequence[Stmt]) -> None:
        """Run the statements as one atomic unit; returns after the COMMIT that made them durable."""
        try:
            with span("db.write", {**_DB_SPAN, "mpac.db.statements": len(stmts)}):
                await self.writer.submit(UNITS, stmts)
        except WriterStopped as err:  # closed, or closing (shutdown): the caller may retry elsewhere
            raise StorageUnavailable("the database is closed") from err


def run_units(conn: sqlite3.Connection, units: list[Sequence[Stmt]]) -> list[BaseException | None]:
    """In the writer's transaction: every unit of the group, each unit's error (None: it is written).

    The units first run back to back in one SAVEPOINT. Only if one fails is that savepoint rolled back and
    the units run again with a SAVEPOINT each, so that unit fails alone: failures are rare, and a savepoint
    per unit on the common path costs two more statements (two more GIL round trips) per unit.
    """
    conn.execute("SAVEPOINT units")
    errors: list[BaseException | None] = [None] * len(units)
    try:
        for stmts in units:
            _execute(conn, stmts)
    except _Failed:
        if conn.in_transaction:
            conn.execute("ROLLBACK TO units")
        else:  # some errors (disk full, I/O) have rolled the whole transaction back already
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("SAVEPOINT units")
        errors = [_run_unit(conn, stmts) for stmts in units]
    conn.execute("RELEASE units")
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
    """The error a failed statement reports: its on_integrity / on_stale mapping, else the error itself."""
    mapped: BaseException | None = None
    if isinstance(err, sqlite3.IntegrityError) and stmt.on_integrity is not None:
        mapped = stmt.on_integrity(err)
    elif isinstance(err, StaleWrite) and stmt.on_stale is not None:
        mapped = stmt.on_stale(err)
    if mapped is None:
        return err
    mapped.__cause__ = err
    return mapped
