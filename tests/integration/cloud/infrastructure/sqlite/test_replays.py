"""SqliteReplayRecords on a real file: the unique insert decides the first acceptance; expiry and purge."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cloud.domain.errors import Conflict
from cloud.domain.ports import AcceptedSignature
from cloud.infrastructure.sqlite.db import Database
from cloud.infrastructure.sqlite.unit_of_work import SqliteUnitOfWork

NOW = 1_800_000_000.0
SIG = "a" * 64


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """An opened database on a temp file."""
    database = Database(tmp_path / "r.sqlite3")
    await database.open()
    yield database
    await database.close()


async def add(db: Database, accepted: AcceptedSignature, now: float = NOW) -> None:
    """Record a first acceptance in a unit of its own."""
    uow = SqliteUnitOfWork(db)
    async with uow:
        await uow.replays.add(accepted, now)
        await uow.commit()


class TestSqliteReplayRecords:
    async def test_first_is_kept_with_its_key_and_a_second_is_refused(self, db: Database) -> None:
        """The second insert of a signature fails with Conflict replayed_request; the first key stays."""
        await add(db, AcceptedSignature(SIG, "k" * 64, NOW + 600))
        with pytest.raises(Conflict) as refused:
            await add(db, AcceptedSignature(SIG, None, NOW + 600))
        assert refused.value.code == "replayed_request"
        assert await SqliteUnitOfWork(db).replays.get(SIG, NOW) == AcceptedSignature(SIG, "k" * 64, NOW + 600)

    async def test_of_concurrent_firsts_exactly_one_wins(self, db: Database) -> None:
        """Ten units recording one signature at once (one group commit): one succeeds, nine are refused."""
        same = AcceptedSignature(SIG, None, NOW + 600)
        outcomes = await asyncio.gather(*(add(db, same) for _ in range(10)), return_exceptions=True)
        assert sum(o is None for o in outcomes) == 1
        refused = [o for o in outcomes if o is not None]
        assert all(isinstance(o, Conflict) and o.code == "replayed_request" for o in refused)

    async def test_expired_record_is_not_returned_gives_way_and_is_purged(self, db: Database) -> None:
        """Past expires_at, get() says None, a new first acceptance replaces it, purge() deletes it."""
        await add(db, AcceptedSignature(SIG, None, NOW + 600))
        replays = SqliteUnitOfWork(db).replays
        assert await replays.get(SIG, NOW + 600) is None
        await add(db, AcceptedSignature(SIG, "k" * 64, NOW + 1200), now=NOW + 600)
        assert (await replays.get(SIG, NOW + 601)) == AcceptedSignature(SIG, "k" * 64, NOW + 1200)
        uow = SqliteUnitOfWork(db)
        async with uow:
            await uow.replays.purge(NOW + 1200)
            await uow.commit()
        assert await replays.get(SIG, 0.0) is None
