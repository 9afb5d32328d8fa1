"""SqliteIdempotencyStore on a real file: held writes commit in one unit with the stored response."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cloud.domain.errors import Conflict
from cloud.domain.ports import StoredResponse
from cloud.infrastructure.sqlite.db import Database, Stmt
from cloud.infrastructure.sqlite.idempotency import SqliteIdempotencyStore

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


class TestHeldCommit:
    async def test_held_writes_wait_for_commit_then_land_with_the_record(self, db: Database) -> None:
        """Inside hold_writes nothing is committed; commit() makes the business row and the record durable."""
        store = SqliteIdempotencyStore(db)
        with store.hold_writes() as held:
            await db.write([MARK])
        assert business_rows(db) == [(0,)]
        await store.commit(held, "pk_a", "k1", stored(), NOW - 86400)
        assert business_rows(db) == [(1,)]
        assert committed(db, "SELECT scope, key, status_code FROM idempotency_keys") == [("pk_a", "k1", 201)]

    async def test_key_recorded_meanwhile_rolls_the_business_rows_back(self, db: Database) -> None:
        """If another process recorded the key first, the unit fails whole: no business row, Conflict."""
        store = SqliteIdempotencyStore(db)
        await store.commit((), "pk_a", "k1", stored(), NOW - 86400)
        with store.hold_writes() as held:
            await db.write([MARK])
        with pytest.raises(Conflict) as caught:
            await store.commit(held, "pk_a", "k1", stored(), NOW - 86400)
        assert caught.value.code == "idempotency_in_flight"
        assert business_rows(db) == [(0,)]

    async def test_an_expired_record_gives_way(self, db: Database) -> None:
        """A record older than the retention is replaced in the same unit, not a conflict."""
        store = SqliteIdempotencyStore(db)
        await store.commit((), "pk_a", "k1", stored(422, at=NOW - 90000), NOW - 86400)
        await store.commit((), "pk_a", "k1", stored(201), NOW - 86400)
        assert committed(db, "SELECT status_code FROM idempotency_keys") == [(201,)]
        assert await store.get("pk_a", "k1", NOW - 86400) == stored(201)
