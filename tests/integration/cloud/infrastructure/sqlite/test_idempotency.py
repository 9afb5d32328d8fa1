"""SqliteIdempotencyStore on a real file: the record commits in one unit of work with the business rows."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cloud.domain.errors import Conflict
from cloud.domain.ports import StoredResponse
from cloud.infrastructure.sqlite.db import Database, Stmt
from cloud.infrastructure.sqlite.unit_of_work import SqliteUnitOfWork

NOW = 1_800_000_000.0
MARK = Stmt("INSERT INTO schema_migrations VALUES ('9999_business_row', 'x', 0)")  # a stand-in business row


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """An opened database on a temp file."""
    database = Database(tmp_path / "i.sqlite3")
    await database.open()
    yield database
    await database.close()


def committed(db: Database, sql: str) -> list[tuple[object, ...]]:
    """Rows as another connection sees them (committed data only)."""
    with sqlite3.connect(f"file:{db.path}?mode=ro", uri=True) as conn:
        return conn.execute(sql).fetchall()


def business_rows(db: Database) -> list[tuple[object, ...]]:
    """How many stand-in business rows are committed."""
    return committed(db, "SELECT count(*) FROM schema_migrations WHERE name='9999_business_row'")


def stored(status: int = 201, at: float = NOW) -> StoredResponse:
    """A response to record."""
    return StoredResponse("f" * 64, status, b'{"id":"pi_x"}', None, at)


async def record(db: Database, response: StoredResponse, *, business: bool = False) -> None:
    """One unit of work: (optionally) the stand-in business row, then the record, one commit."""
    uow = SqliteUnitOfWork(db)
    async with uow:
        if business:
            uow._pending.add([MARK])  # what a repository of the same unit stages
        await uow.idempotency.add("pk_a", "k1", response, NOW - 86400)
        await uow.commit()


class TestRecordInTheUnit:
    async def test_record_and_business_row_commit_together(self, db: Database) -> None:
        """Nothing is committed before commit(); then the business row and the record are both durable."""
        uow = SqliteUnitOfWork(db)
        async with uow:
            uow._pending.add([MARK])
            await uow.idempotency.add("pk_a", "k1", stored(), NOW - 86400)
            assert business_rows(db) == [(0,)]
            await uow.commit()
        assert business_rows(db) == [(1,)]
        assert committed(db, "SELECT scope, key, status_code FROM idempotency_keys") == [("pk_a", "k1", 201)]

    async def test_key_recorded_meanwhile_rolls_the_business_rows_back(self, db: Database) -> None:
        """If another process recorded the key first, the unit fails whole: no business row, Conflict."""
        await record(db, stored())
        with pytest.raises(Conflict) as caught:
            await record(db, stored(), business=True)
        assert caught.value.code == "idempotency_in_flight"
        assert business_rows(db) == [(0,)]

    async def test_an_expired_record_gives_way(self, db: Database) -> None:
        """A record older than the retention is replaced in the same unit, not a conflict."""
        await record(db, stored(422, at=NOW - 90000))
        await record(db, stored(201))
        assert committed(db, "SELECT status_code FROM idempotency_keys") == [(201,)]
        assert await SqliteUnitOfWork(db).idempotency.get("pk_a", "k1", NOW - 86400) == stored(201)
