"""The in-process credential / store caches on a real SQLite file: writes here invalidate at once, writes by
another connection (another process) are seen within the TTL, misses are never cached."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cloud.domain import commands as c
from cloud.domain.tenants import Credential, CredentialKind
from cloud.infrastructure.crypto import SecretBox
from cloud.infrastructure.sqlite.db import Database, Stmt
from cloud.infrastructure.sqlite.tenants import (
    SqliteCredentialResolver,
    SqliteTenantRepository,
    credential_stmt,
)
from cloud.service import tenants as t
from sync.signing import secret_key_hash

TTL = 0.3
NOW = 1_800_000_000.0


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """An opened database on a temp file."""
    database = Database(tmp_path / "c.sqlite3")
    await database.open()
    yield database
    await database.close()


def other_process_write(db: Database, sql: str, params: tuple[object, ...] = ()) -> None:
    """A write through a separate connection, as `mpac-pgw admin` in another process does."""
    with sqlite3.connect(db.path) as conn:
        conn.execute(sql, params)


async def partner(db: Database, tenants: SqliteTenantRepository, api_key: str = "pk_cache_0001") -> str:
    """A partner with one credential; returns its id."""
    made = await t.create_partner(c.CreateClientPartner("P", api_key, "sk_cache_secret"), tenants=tenants,
                                  clock=lambda: NOW)  # fmt: skip
    return made.partner.id


class TestCredentialCache:
    async def test_a_write_in_this_process_invalidates_at_once(self, db: Database) -> None:
        """After a suspension through this Database, resolve() returns the suspended row immediately."""
        resolver = SqliteCredentialResolver(db, cache_ttl=3600)
        await partner(db, SqliteTenantRepository(db, SecretBox(SecretBox.generate_key())))
        assert (await resolver.resolve("pk_cache_0001")).active  # type: ignore[union-attr]
        await db.write([Stmt("UPDATE credentials SET active=0 WHERE api_key=?", ("pk_cache_0001",))])
        assert not (await resolver.resolve("pk_cache_0001")).active  # type: ignore[union-attr]

    async def test_another_process_write_is_seen_within_the_ttl(self, db: Database) -> None:
        """A write by another connection may be missed for at most the TTL, then it is read."""
        resolver = SqliteCredentialResolver(db, cache_ttl=TTL)
        await partner(db, SqliteTenantRepository(db, SecretBox(SecretBox.generate_key())))
        assert (await resolver.resolve("pk_cache_0001")).active  # type: ignore[union-attr]
        other_process_write(db, "UPDATE credentials SET active=0 WHERE api_key='pk_cache_0001'")
        await asyncio.sleep(TTL + 0.05)
        assert not (await resolver.resolve("pk_cache_0001")).active  # type: ignore[union-attr]

    async def test_unknown_keys_are_not_cached(self, db: Database) -> None:
        """A key unknown a moment ago is found as soon as another process has inserted it."""
        resolver = SqliteCredentialResolver(db, cache_ttl=3600)
        partner_id = await partner(db, SqliteTenantRepository(db, SecretBox(SecretBox.generate_key())))
        assert await resolver.resolve("pk_late_0001") is None
        cred = Credential("pk_late_0001", secret_key_hash("sk_late_0001"), CredentialKind.PARTNER, partner_id)
        stmt = credential_stmt(cred, NOW)
        other_process_write(db, stmt.sql, tuple(stmt.params))
        found = await resolver.resolve("pk_late_0001")
        assert found is not None and found.partner_id == partner_id


class TestStoreCache:
    async def test_a_new_store_in_this_process_makes_a_code_ambiguous_at_once(self, db: Database) -> None:
        """Two merchants of one partner with the same store code: find_stores sees both right after the
        second store is added (a cached single result would wrongly skip the 422 ambiguous_store)."""
        tenants = SqliteTenantRepository(db, SecretBox(SecretBox.generate_key()), cache_ttl=3600)
        partner_id = await partner(db, tenants)
        for name in ("A", "B"):
            merchant = await t.create_merchant(c.CreateMerchant(partner_id, name), tenants=tenants,
                                               clock=lambda: NOW)  # fmt: skip
            await t.create_store(c.CreateStore(merchant.id, "store_001"), tenants=tenants, clock=lambda: NOW)
            found = await tenants.find_stores(partner_id, "store_001", None)
            assert len(found) == (1 if name == "A" else 2)
