"""SqliteUnitOfWork on a real file: one commit per unit, nothing without commit, nested blocks defer to the
outermost, and the intent repository's bulk add inside it."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cloud.domain.intent import MethodType, PaymentIntent, creation_transaction
from cloud.domain.sync import AcceptedSale, OfflineSale, SyncRace, offline_intent, offline_record
from cloud.domain.tenants import Store
from cloud.infrastructure.sqlite.db import Database, Stmt
from cloud.infrastructure.sqlite.unit_of_work import SqliteUnitOfWork

NOW = 1_800_000_000.0
STORE = Store("str_1", "mer_1", "cp_1", "s001", "Shop", 0.0)
TENANT = [Stmt("INSERT INTO client_partners VALUES ('cp_1', 'p', 0)"),
          Stmt("INSERT INTO merchants VALUES ('mer_1', 'cp_1', 'm', 0)"),
          Stmt("INSERT INTO stores (id, merchant_id, partner_id, code, name, created_at) "
               "VALUES ('str_1', 'mer_1', 'cp_1', 's001', 'Shop', 0)")]  # fmt: skip


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """An opened database with one store."""
    database = Database(tmp_path / "u.sqlite3")
    await database.open()
    await database.write(TENANT)
    yield database
    await database.close()


def intent(n: int, ref: str | None = None) -> PaymentIntent:
    """An intent of the store, id pi_<n>."""
    return PaymentIntent(f"pi_{n:026d}", "cp_1", "mer_1", "str_1", "s001", 1000, "JPY", (MethodType.CASH,),
                         ref or f"ref-{n}", NOW, NOW + 1800, updated_at=NOW)  # fmt: skip


async def add(uow: SqliteUnitOfWork, pi: PaymentIntent) -> None:
    """Stage one create."""
    token_hash = hashlib.sha256(pi.id.encode()).hexdigest()
    await uow.intents.add(pi, creation_transaction(pi, "partner:cp_1"), token_hash, NOW + 300)


async def count(db: Database, table: str) -> int:
    """Committed rows of a table."""
    row = await db.fetch_one(f"SELECT count(*) FROM {table}")  # noqa: S608 — fixed names
    assert row is not None
    return int(row[0])


class TestUnitOfWork:
    async def test_nothing_is_written_before_commit_and_all_after(self, db: Database) -> None:
        """Staged writes are invisible until commit(); then intent, Transaction and token are all there."""
        uow = SqliteUnitOfWork(db)
        async with uow:
            await add(uow, intent(1))
            assert await count(db, "payment_intents") == 0
            await uow.commit()
        tables = ("payment_intents", "transactions", "payment_tokens")
        assert [await count(db, t) for t in tables] == [1, 1, 1]

    async def test_leaving_without_commit_or_by_an_exception_discards(self, db: Database) -> None:
        """An uncommitted block and a block left by an exception write nothing."""
        uow = SqliteUnitOfWork(db)
        async with uow:
            await add(uow, intent(1))
        with pytest.raises(RuntimeError):
            async with uow:
                await add(uow, intent(2))
                raise RuntimeError("handler failed")
        async with uow:
            await uow.commit()
        assert await count(db, "payment_intents") == 0

    async def test_an_inner_commit_waits_for_the_outermost(self, db: Database) -> None:
        """Nested (endpoint around handler): the inner commit writes nothing; the outer one writes both."""
        uow = SqliteUnitOfWork(db)
        async with uow:
            async with uow:
                await add(uow, intent(1))
                await uow.commit()
            assert await count(db, "payment_intents") == 0
            await add(uow, intent(2))
            await uow.commit()
        assert await count(db, "payment_intents") == 2

    async def test_a_failing_statement_fails_the_whole_unit(self, db: Database) -> None:
        """A duplicate merchant_ref_id in the second create of a unit keeps the first out too (Conflict)."""
        uow = SqliteUnitOfWork(db)
        with pytest.raises(Exception, match="merchant_ref_id"):
            async with uow:
                await add(uow, intent(1, "same"))
                await add(uow, intent(2, "same"))
                await uow.commit()
        assert await count(db, "payment_intents") == 0


def accepted(n: int, ref: str | None = None) -> AcceptedSale:
    """An accepted offline cash sale."""
    sale = OfflineSale(f"loc-{n}", n, 1_700_000_000_000 + n, 500, "JPY", "manual", "cash", ref or f"o-{n}",
                       "succeeded", {"cash_received": 1000}, {"lane": n})  # fmt: skip
    ids = [f"txn_{n}_{k}" for k in range(3)]
    return AcceptedSale(sale, offline_record(sale, STORE, intent_id=f"pi_{n:026d}", txn_ids=ids), "h")


class TestAddMany:
    async def test_bulk_rows_read_back_as_the_domain_builds_them(self, db: Database) -> None:
        """add_many of three sales: get() returns each intent equal to offline_intent's, Transactions too."""
        uow = SqliteUnitOfWork(db)
        sales = [accepted(n) for n in (1, 2, 3)]
        async with uow:
            await uow.intents.add_many(sales, STORE, "dev_1")
            await uow.commit()
        for a in sales:
            want, txns = offline_intent(a.sale, STORE, intent_id=a.intent_id, device_id="dev_1",
                                        txn_ids=[e[0] for e in a.record.edges])  # fmt: skip
            assert await uow.intents.get(a.intent_id) == want
            assert list(await uow.intents.transactions(a.intent_id)) == txns

    async def test_a_taken_key_is_a_sync_race_and_nothing_stays(self, db: Database) -> None:
        """A merchant_ref_id taken meanwhile refuses the whole bulk add with SyncRace at commit."""
        uow = SqliteUnitOfWork(db)
        async with uow:
            await add(uow, intent(9, "o-2"))
            await uow.commit()
        with pytest.raises(SyncRace):
            async with uow:
                await uow.intents.add_many([accepted(1), accepted(2)], STORE, "dev_1")
                await uow.commit()
        assert await count(db, "payment_intents") == 1
