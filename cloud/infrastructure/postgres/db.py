"""One PostgreSQL database behind a bounded asyncpg pool (docs/operations.md#running-on-postgresql).

A write is a list of Ops run in ONE transaction on one pooled connection; a unit of work stages its Ops and
commit() hands them to `write`. Reads take any pooled connection and see committed data only. Every failure
of the server or the network becomes StorageUnavailable (503 with Retry-After, never 500); the pool replaces
a dead connection on its next acquire, so the process recovers by itself when the server returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import asyncpg.exceptions._base as asyncpg_base

from cloud.domain.errors import StorageUnavailable
from cloud.infrastructure.postgres.migrate import apply_migrations
from cloud.infrastructure.sqlite.db import StaleWrite, UnstorableValue, written_table
from sync.telemetry import span

log = logging.getLogger("cloud.postgres")
_DB_SPAN = {"db.system.name": "postgresql"}  # no statement text: docs/observability.md

# asyncpg's own client-side refusal of a value (e.g. an int past 64 bits); also a ValueError.
_ClientDataError = asyncpg_base.DataError
# What "the server or the path to it is not there" looks like to asyncpg.
_GONE: tuple[type[BaseException], ...] = (
    OSError, asyncio.TimeoutError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError, asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.TransactionRollbackError,
    # asyncpg's protocol state after a connection broke in the middle of an exchange
    asyncpg_base.InternalClientError,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class PoolBounds:
    """How many connections a process keeps and how long a request waits for one."""

    min_size: int = 1
    max_size: int = 10
    acquire_timeout: float = 5.0  # waiting for a free connection, or for the server to accept one
    command_timeout: float = 30.0  # one statement


@dataclass(frozen=True, slots=True)
class Op:
    """One step of a write: a statement (`many`: once per row of `args`) or, with `run`, a set-based step
    that uses the connection itself (COPY, unnest inserts with RETURNING)."""

    sql: str = ""
    args: Sequence[Any] = ()
    many: bool = False
    expect_one: bool = False  # a statement that changed no row is a StaleWrite (optimistic lock)
    run: Callable[[Any], Awaitable[None]] | None = None
    # Maps an integrity violation (or a deadlock / serialization failure) of this step to the error the
    # write raises; None keeps the database's error. On the step because a staged write fails at commit.
    on_integrity: Callable[[Exception], BaseException | None] | None = None
    on_stale: Callable[[StaleWrite], BaseException] | None = None


def is_postgres_url(url: str) -> bool:
    """True for postgresql:// (and postgres://) URLs."""
    return urlsplit(url).scheme in ("postgresql", "postgres")


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def unavailable(err: BaseException, what: str) -> StorageUnavailable:
    """The 503 error for a database that could not serve `what` (the cause is kept, not shown)."""
    failure = StorageUnavailable(f"the database could not serve the {what}: {type(err).__name__}")
    failure.__cause__ = err
    return failure


class PgDatabase:
    """An asyncpg pool with bounds, the migrations applied at open, reads and one-transaction writes."""

    def __init__(self, url: str, bounds: PoolBounds = PoolBounds()) -> None:
        self.url = url
        self.bounds = bounds
        self._pool: Any = None
        self._generations: dict[str, int] = {}

    @property
    def pool(self) -> Any:
        """The open asyncpg pool (for set-based steps and tests)."""
        assert self._pool is not None, "PgDatabase.open() first"
        return self._pool

    async def open(self, *, migrate: bool = True) -> None:
        """Create the pool and (unless told not to) apply the migrations under the advisory lock."""
        b = self.bounds
        try:
            self._pool = await asyncpg.create_pool(
                self.url, min_size=b.min_size, max_size=b.max_size, timeout=b.acquire_timeout,
                command_timeout=b.command_timeout, max_inactive_connection_lifetime=300.0,
            )  # fmt: skip
        except _GONE as err:
            raise unavailable(err, f"connection to {redacted(self.url)}") from err
        if migrate:
            await self.migrate()

    async def migrate(self) -> list[str]:
        """Apply the migrations not yet recorded; the names applied."""
        async with self.pool.acquire(timeout=self.bounds.acquire_timeout) as conn:
            applied: list[str] = await apply_migrations(conn)
        if applied:
            log.info("applied migrations: %s", ", ".join(applied))
        return applied

    async def close(self) -> None:
        """Close every connection of the pool (idempotent)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), timeout=self.bounds.acquire_timeout)
            except _GONE:  # asyncio.TimeoutError is one of them
                pool.terminate()

    def generation(self, table: str) -> int:
        """How many writes to `table` this process committed (the in-process read caches compare it)."""
        return self._generations.get(table, 0)

    async def fetch_all(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        """Rows of a read (asyncpg Records: by name or position)."""
        with span("db.read", _DB_SPAN):
            return await self._fetch_all(sql, args)

    async def _fetch_all(self, sql: str, args: Sequence[Any]) -> list[Any]:
        for attempt in range(2):
            try:
                return list(await self.pool.fetch(sql, *args, timeout=self.bounds.command_timeout))
            except _ClientDataError as err:
                raise _unstorable(err, "the query") from err
            except asyncpg.DataError as err:
                raise _unstorable(err, "the query") from err
            except _GONE as err:
                # A read may be repeated: once, on a fresh connection, for a connection that died idle.
                if attempt == 1 or not _connection_lost(err):
                    raise unavailable(err, "read") from err
        raise AssertionError("unreachable")

    async def fetch_one(self, sql: str, args: Sequence[Any] = ()) -> Any:
        """The first row of a read, or None."""
        rows = await self.fetch_all(sql, args)
        return rows[0] if rows else None

    async def write(self, ops: Sequence[Op]) -> None:
        """Run the ops in one transaction: all committed, or none (the mapped error is raised)."""
        with span("db.write", {**_DB_SPAN, "mpac.db.statements": len(ops)}):
            await self._write(ops)

    async def _write(self, ops: Sequence[Op]) -> None:
        for attempt in range(2):
            started = False
            try:
                async with self.pool.acquire(timeout=self.bounds.acquire_timeout) as conn:
                    transaction = conn.transaction()
                    await transaction.start()
                    started = True
                    try:
                        for op in ops:
                            await _run(conn, op)
                    except BaseException:
                        await _rollback(transaction)
                        raise
                    await transaction.commit()
                break
            except _Refused as refused:
                raise refused.error from refused.cause
            except _GONE as err:
                # Before BEGIN went through nothing was done: one retry on a fresh connection is safe.
                if started or attempt == 1 or not _connection_lost(err):
                    raise unavailable(err, "write") from err
        for table in {t for op in ops if (t := written_table(op.sql)) is not None}:
            self._generations[table] = self._generations.get(table, 0) + 1


def _connection_lost(err: BaseException) -> bool:
    return isinstance(err, asyncpg.PostgresConnectionError | asyncpg.InterfaceError | ConnectionError)


class _Refused(Exception):
    """A step's own failure, mapped: the transaction is rolled back and `error` is raised."""

    def __init__(self, error: BaseException, cause: BaseException) -> None:
        super().__init__(str(error))
        self.error, self.cause = error, cause


def _unstorable(err: BaseException, where: str) -> UnstorableValue:
    # The database's text can quote the value; only the kind of refusal is told (the cause keeps the rest).
    refused = UnstorableValue(f"a value could not be stored in {where}: {type(err).__name__}")
    refused.__cause__ = err
    return refused


async def _run(conn: Any, op: Op) -> None:
    try:
        if op.run is not None:
            await op.run(conn)
        elif op.many:
            await conn.executemany(op.sql, op.args)
        else:
            status = await conn.execute(op.sql, *op.args)
            if op.expect_one and not status.endswith(" 1"):
                raise StaleWrite("the record was changed by another request; retry")
    except StaleWrite as err:
        raise _Refused(err if op.on_stale is None else op.on_stale(err), err) from err
    except (asyncpg.IntegrityConstraintViolationError, asyncpg.exceptions.TransactionRollbackError) as err:
        mapped = None if op.on_integrity is None else op.on_integrity(err)
        if mapped is None and isinstance(err, asyncpg.exceptions.TransactionRollbackError):
            raise  # a deadlock or serialization failure nobody maps: the caller may retry (503)
        raise _Refused(err if mapped is None else mapped, err) from err
    except (_ClientDataError, asyncpg.DataError) as err:
        raise _Refused(_unstorable(err, written_table(op.sql) or "the database"), err) from err


class Pending:
    """The ops a unit of work has staged so far, in order (its repositories share one)."""

    __slots__ = ("ops",)

    def __init__(self) -> None:
        self.ops: list[Op] = []

    def add(self, ops: Sequence[Op], *, first: bool = False) -> None:
        """Stage ops after (or, with `first`, before) those already staged."""
        if first:
            self.ops[:0] = ops
        else:
            self.ops.extend(ops)


async def _rollback(transaction: Any) -> None:
    """Undo a failed write; a connection that died meanwhile has nothing left to undo."""
    with contextlib.suppress(*_GONE):
        await transaction.rollback()
