"""The SQLite layer on real files: migrations, WAL, group commit, optimistic locking, sealed credentials."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cloud.domain.errors import StorageUnavailable
from cloud.domain.tenants import StoreProviderConfig
from cloud.infrastructure.crypto import SecretBox
from cloud.infrastructure.sqlite.db import Database, StaleWrite, Stmt, migration_files
from cloud.infrastructure.sqlite.tenants import SqliteTenantRepository


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """An opened database on a temp file, closed afterwards (close is idempotent)."""
    database = Database(tmp_path / "t.sqlite3")
    await database.open()
    yield database
    await database.close()


class TestMigrations:
    async def test_applied_in_order_and_recorded(self, db: Database) -> None:
        """Every packaged migration is recorded once by the shared runner, in lexical order; WAL is on."""
        names = [r[0] for r in await db.fetch_all("SELECT name FROM schema_migrations ORDER BY name")]
        assert names == [name for name, _ in migration_files()]
        assert names[0].startswith("0001_")
        assert (await db.fetch_one("PRAGMA journal_mode"))[0] == "wal"  # type: ignore[index]
        await db.close()

    async def test_reopen_applies_nothing_twice(self, tmp_path: Path) -> None:
        """Opening an existing file again leaves the migrations table as it was."""
        for _ in range(2):
            database = Database(tmp_path / "again.sqlite3")
            await database.open()
            await database.close()
        with sqlite3.connect(tmp_path / "again.sqlite3") as conn:
            assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone() == (
                len(migration_files()),
            )


class TestGroupCommit:
    async def test_a_failing_unit_rolls_back_alone(self, db: Database) -> None:
        """Concurrent units share a commit; one hitting a constraint fails without undoing the others."""
        await db.write([Stmt("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v INT)")])
        await db.write([Stmt("INSERT INTO t VALUES ('dup', 0)")])
        units = [
            [Stmt("INSERT INTO t VALUES (?, ?)", (f"k{i}", i)), Stmt("UPDATE t SET v=v+1 WHERE k='dup'")]
            for i in range(20)
        ]
        units[7] = [Stmt("UPDATE t SET v=v+100 WHERE k='dup'"), Stmt("INSERT INTO t VALUES ('dup', 1)")]
        results = await asyncio.gather(*(db.write(u) for u in units), return_exceptions=True)
        assert [type(r).__name__ for r in results].count("IntegrityError") == 1
        assert isinstance(results[7], sqlite3.IntegrityError)
        assert (await db.fetch_one("SELECT v FROM t WHERE k='dup'"))[0] == 19  # type: ignore[index]
        assert (await db.fetch_one("SELECT count(*) FROM t"))[0] == 20  # type: ignore[index]
        await db.close()

    async def test_version_guard_raises_stale_write(self, db: Database) -> None:
        """A guarded UPDATE that touches no row is a StaleWrite, and nothing of its unit stays."""
        await db.write(
            [Stmt("CREATE TABLE IF NOT EXISTS v (id INT, version INT)"), Stmt("INSERT INTO v VALUES (1, 1)")]
        )
        with pytest.raises(StaleWrite):
            await db.write(
                [
                    Stmt("INSERT INTO v VALUES (2, 0)"),
                    Stmt("UPDATE v SET version=2 WHERE id=1 AND version=0", expect_one=True),
                ]
            )
        assert (await db.fetch_one("SELECT count(*) FROM v"))[0] == 1  # type: ignore[index]
        await db.close()

    async def test_a_broken_statement_fails_its_unit_only(self, db: Database) -> None:
        """A unit with an SQL error gets that error; a unit committed in the same group is kept."""
        await db.write([Stmt("CREATE TABLE IF NOT EXISTS ok (x)")])
        good = db.write([Stmt("INSERT INTO ok VALUES (1)")])
        bad = db.write([Stmt("INSERT INTO missing_table VALUES (1)")])
        results = await asyncio.gather(good, bad, return_exceptions=True)
        assert results[0] is None and isinstance(results[1], sqlite3.OperationalError)
        assert (await db.fetch_one("SELECT count(*) FROM ok"))[0] == 1  # type: ignore[index]

    async def test_a_dead_writer_is_storage_unavailable(self, db: Database) -> None:
        """When the database itself refuses the group, callers get StorageUnavailable (503), not a crash."""
        await db.writer.outside_transaction(lambda conn: conn.close())  # the connection goes away under it
        with pytest.raises(StorageUnavailable):
            await db.write([Stmt("SELECT 1")])
        assert db.writer.last_error is not None

    async def test_a_write_during_close_is_refused_not_left_hanging(self, db: Database) -> None:
        """close() finishes queued units; a unit submitted while it drains gets StorageUnavailable at once."""
        await db.write([Stmt("CREATE TABLE IF NOT EXISTS c (x)")])
        queued = asyncio.ensure_future(db.write([Stmt("INSERT INTO c VALUES (1)")]))
        closing = asyncio.ensure_future(db.close())
        await asyncio.sleep(0)
        with pytest.raises(StorageUnavailable):
            await asyncio.wait_for(db.write([Stmt("INSERT INTO c VALUES (2)")]), timeout=5)
        await asyncio.wait_for(asyncio.gather(queued, closing), timeout=10)
        with sqlite3.connect(db.path) as conn:
            assert conn.execute("SELECT x FROM c").fetchall() == [(1,)]

    async def test_written_data_is_durable_in_the_file(self, db: Database, tmp_path: Path) -> None:
        """Once write() returns, another connection sees the row (committed, not just queued)."""
        await db.write([Stmt("CREATE TABLE IF NOT EXISTS d (x)"), Stmt("INSERT INTO d VALUES (42)")])
        with sqlite3.connect(tmp_path / "t.sqlite3") as conn:
            assert conn.execute("SELECT x FROM d").fetchall() == [(42,)]
        await db.close()


class TestProviderCredentials:
    async def test_sealed_at_rest_and_opened_in_memory(self, db: Database, tmp_path: Path) -> None:
        """Provider credentials never appear in plain text in the database file."""
        box = SecretBox(SecretBox.generate_key())
        repo = SqliteTenantRepository(db, box)
        await db.write(
            [
                Stmt("INSERT INTO client_partners VALUES ('cp_1', 'p', 0)"),
                Stmt("INSERT INTO merchants VALUES ('mer_1', 'cp_1', 'm', 0)"),
                Stmt(
                    "INSERT INTO stores (id, merchant_id, partner_id, code, name, created_at) "
                    "VALUES ('str_1', 'mer_1', 'cp_1', 's', 's', 0)"
                ),
            ]
        )
        secret = {"api_secret": "very-secret-provider-value"}
        await repo.set_provider_config(StoreProviderConfig("spc_1", "str_1", "simulator", secret, 1.0))
        got = await repo.get_provider_config("str_1", "simulator")
        await db.close()
        assert got is not None and got.credentials == secret
        raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("t.sqlite3"))  # noqa: ASYNC240 — test-only read of a closed file
        assert b"very-secret-provider-value" not in raw
        wrong = SqliteTenantRepository(db, SecretBox(SecretBox.generate_key()))
        await db.open()
        with pytest.raises(ValueError, match="cannot be decrypted"):
            await wrong.get_provider_config("str_1", "simulator")
        await db.close()
