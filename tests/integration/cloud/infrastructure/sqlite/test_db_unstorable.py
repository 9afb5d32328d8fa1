"""The group-commit writer the sync intake writes through survives a unit raising a non-SQLite error."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cloud.infrastructure.sqlite.db import Database, Stmt, UnstorableValue

_INSERT = "INSERT INTO client_partners VALUES (?, ?, ?)"


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """An opened database on a temp file, closed afterwards."""
    database = Database(tmp_path / "w.sqlite3")
    await database.open()
    yield database
    await database.close()


async def _names(db: Database) -> list[str]:
    return [r[0] for r in await db.fetch_all("SELECT id FROM client_partners ORDER BY id")]


async def test_overflow_fails_its_unit_and_later_writes_complete(db: Database) -> None:
    """An int past 64 bits (OverflowError while binding) fails that write with a clear error; the next
    write still commits instead of hanging on a dead writer."""
    with pytest.raises(UnstorableValue, match="OverflowError") as caught:
        await db.write([Stmt(_INSERT, ("cp_big", "big", 2**70))])
    assert caught.value.code == "unstorable_value"
    await asyncio.wait_for(db.write([Stmt(_INSERT, ("cp_ok", "ok", 1))]), timeout=10)
    assert await _names(db) == ["cp_ok"]


async def test_overflow_in_executemany_unit_fails_alone_in_its_group(db: Database) -> None:
    """Units committed in the same group as the failing one are kept; the failing unit leaves no row."""
    bad = [Stmt(_INSERT, [("cp_b1", "b", 1), ("cp_b2", "b", 2**64)], many=True)]
    good_a, good_c = [Stmt(_INSERT, ("cp_a", "a", 1))], [Stmt(_INSERT, ("cp_c", "c", 1))]
    results = await asyncio.wait_for(asyncio.gather(db.write(good_a), db.write(bad), db.write(good_c),
                                                    return_exceptions=True), timeout=10)  # fmt: skip
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], UnstorableValue)
    assert await _names(db) == ["cp_a", "cp_c"]


async def test_unencodable_text_fails_its_unit_only(db: Database) -> None:
    """A lone surrogate (UnicodeEncodeError while binding, not a sqlite3.Error) fails that write alone."""
    with pytest.raises(UnstorableValue, match="UnicodeEncodeError"):
        await asyncio.wait_for(db.write([Stmt(_INSERT, ("cp_x", "bad \ud800", 1))]), timeout=10)
    await asyncio.wait_for(db.write([Stmt(_INSERT, ("cp_z", "z", 1))]), timeout=10)
    assert await _names(db) == ["cp_z"]
