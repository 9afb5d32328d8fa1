"""PgDatabase on a real throwaway PostgreSQL: migrations, one-transaction writes, error mapping."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from cloud.domain.errors import Conflict, StorageUnavailable
from cloud.infrastructure.postgres.db import Op, PgDatabase, redacted
from cloud.infrastructure.postgres.migrate import apply_migrations, migration_files
from cloud.infrastructure.sqlite.db import StaleWrite, UnstorableValue
from sync.sqlite import MigrationError
from tests.pgserver import PgServer


@pytest.fixture
async def db(pg_server: PgServer) -> AsyncIterator[PgDatabase]:
    url = await pg_server.database()
    database = PgDatabase(url)
    await database.open()
    yield database
    await database.close()
    await pg_server.drop(url)


_PARTNER = "INSERT INTO client_partners (id, name, created_at) VALUES ($1, $2, $3)"


class TestMigrations:
    async def test_fresh_database_gets_every_file_once(self, pg_server: PgServer) -> None:
        """A fresh database is migrated at open; opening again applies nothing."""
        admin = await asyncpg.connect(pg_server.url())
        await admin.execute("CREATE DATABASE mig_fresh")
        await admin.close()
        url = pg_server.url("mig_fresh")
        first = PgDatabase(url)
        await first.open(migrate=False)
        assert await first.migrate() == [name for name, _ in migration_files()]
        assert await first.migrate() == []
        rows = await first.fetch_all("SELECT name, length(sha256) FROM schema_migrations ORDER BY name")
        assert [(r[0], r[1]) for r in rows] == [(name, 64) for name, _ in migration_files()]
        await first.close()
        await pg_server.drop(url)

    async def test_concurrent_migrators_apply_each_file_once(self, pg_server: PgServer) -> None:
        """Four workers migrating at once: the advisory lock lets each file be applied exactly once."""
        admin = await asyncpg.connect(pg_server.url())
        await admin.execute("CREATE DATABASE mig_race")
        await admin.close()
        url = pg_server.url("mig_race")
        conns = [await asyncpg.connect(url) for _ in range(4)]
        results = await asyncio.gather(*(apply_migrations(c) for c in conns))
        assert sorted(n for r in results for n in r) == [name for name, _ in migration_files()]
        for c in conns:
            await c.close()
        await pg_server.drop(url)

    async def test_failing_file_leaves_nothing(self, db: PgDatabase) -> None:
        """A migration that fails is not recorded and its statements are undone."""
        bad = [("9000_bad.sql", "CREATE TABLE half_done (x INT); SELECT no_such_function();")]
        async with db.pool.acquire() as conn:
            with pytest.raises(MigrationError):
                await apply_migrations(conn, bad)
        assert await db.fetch_one("SELECT to_regclass('half_done') AS t") == (None,)
        assert await db.fetch_one("SELECT 1 FROM schema_migrations WHERE name='9000_bad.sql'") is None

    async def test_changed_file_is_refused(self, db: PgDatabase) -> None:
        """A recorded file whose contents differ means another build's database: refused."""
        name, _ = migration_files()[0]
        async with db.pool.acquire() as conn:
            with pytest.raises(MigrationError, match="other contents"):
                await apply_migrations(conn, [(name, "SELECT 1;")])


class TestWrites:
    async def test_a_failing_step_undoes_the_whole_write(self, db: PgDatabase) -> None:
        """Two inserts, the second a duplicate: neither row is there and the mapped error is raised."""
        mapped = Op(_PARTNER, ("cp_0", "again", 2), on_integrity=lambda e: Conflict("taken"))
        await db.write([Op(_PARTNER, ("cp_0", "first", 1))])
        with pytest.raises(Conflict, match="taken"):
            await db.write([Op(_PARTNER, ("cp_2", "x", 1)), mapped, Op(_PARTNER, ("cp_1", "y", 3))])
        assert [r[0] for r in await db.fetch_all("SELECT id FROM client_partners ORDER BY id")] == ["cp_0"]

    async def test_expect_one_is_a_stale_write(self, db: PgDatabase) -> None:
        """An UPDATE that matched no row is a StaleWrite (or what on_stale maps it to)."""
        with pytest.raises(StaleWrite):
            await db.write([Op("UPDATE client_partners SET name='n' WHERE id=$1", ("no",), expect_one=True)])

    async def test_unstorable_values_are_validation_errors(self, db: PgDatabase) -> None:
        """An int past 64 bits or a NUL in text is this write's fault (422), not the database's (503)."""
        with pytest.raises(UnstorableValue):
            await db.write([Op(_PARTNER, ("cp_big", "x", 2**70))])
        with pytest.raises(UnstorableValue):
            await db.write([Op(_PARTNER, ("cp_nul", "a\x00b", 1))])
        with pytest.raises(UnstorableValue):
            await db.fetch_all("SELECT id FROM client_partners WHERE created_at=$1", (2**70,))

    async def test_writes_bump_the_generation_of_their_tables(self, db: PgDatabase) -> None:
        """The in-process caches see a committed write here at once."""
        before = db.generation("client_partners")
        await db.write([Op(_PARTNER, ("cp_g", "x", 1))])
        assert db.generation("client_partners") == before + 1


class TestUnavailable:
    async def test_no_server_is_storage_unavailable(self) -> None:
        """Nothing listening: open() raises StorageUnavailable, never a raw socket error."""
        with pytest.raises(StorageUnavailable):
            await PgDatabase("postgresql://postgres@127.0.0.1:1/none").open()

    def test_password_is_redacted(self) -> None:
        """Messages never carry the URL's password."""
        assert redacted("postgresql://u:s3cret@h:5/db") == "postgresql://u:***@h:5/db"
