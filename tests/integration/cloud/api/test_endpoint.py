"""The endpoint's unit of work over HTTP: a create, its Transaction and its record commit as one unit or
not at all, with or without an Idempotency-Key (failures injected by triggers from another connection,
on SQLite and on PostgreSQL)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cloud.testing import PgwClient

from ..conftest import Pgw
from ..helpers import intent_body, rows

PATH = "/v1/payment_intents"


def fail_inserts_into(db_path: Path | str, table: str) -> None:
    """Make every INSERT into `table` abort (a trigger added by another connection, as a fault would); on
    PostgreSQL the trigger raises a constraint violation, as SQLite's RAISE(ABORT) does."""
    if isinstance(db_path, str):
        rows(db_path, f"CREATE FUNCTION refuse_{table}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                      "RAISE EXCEPTION 'injected failure' USING ERRCODE = 'unique_violation'; END $$")
        rows(db_path, f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} FOR EACH ROW "
                      f"EXECUTE FUNCTION refuse_{table}()")  # fmt: skip
        return
    with sqlite3.connect(db_path) as conn:
        conn.execute(f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} "
                     "BEGIN SELECT RAISE(ABORT, 'injected failure'); END")  # fmt: skip


def counts(db_path: Path | str) -> list[tuple[object, ...]]:
    """(intents, transactions, tokens, idempotency records) committed."""
    return rows(db_path, "SELECT (SELECT count(*) FROM payment_intents), (SELECT count(*) FROM transactions),"
                         " (SELECT count(*) FROM payment_tokens), (SELECT count(*) FROM idempotency_keys)")


class TestCreateUnit:
    async def test_without_key_a_failed_transaction_insert_leaves_no_intent(
        self, pgw: Pgw, client: PgwClient
    ) -> None:
        """No Idempotency-Key: the Transaction insert fails, so neither intent nor token is kept."""
        fail_inserts_into(pgw.db_path, "transactions")
        resp = await client.post(PATH, intent_body("cash"))
        assert resp.status == 500
        assert counts(pgw.db_path) == [(0, 0, 0, 0)]

    async def test_with_key_a_failed_record_insert_leaves_no_intent(
        self, pgw: Pgw, client: PgwClient
    ) -> None:
        """With a key the record is in the create's unit: its insert failing undoes intent and Transaction."""
        fail_inserts_into(pgw.db_path, "idempotency_keys")
        resp = await client.post(PATH, intent_body("cash"), headers={"Idempotency-Key": "uow-1"})
        assert resp.status == 409 and resp.body["error"]["code"] == "idempotency_in_flight"
        assert counts(pgw.db_path) == [(0, 0, 0, 0)]

    @pytest.mark.parametrize("headers", [{}, {"Idempotency-Key": "uow-2"}])
    async def test_a_create_commits_intent_transaction_token_and_record(
        self, pgw: Pgw, client: PgwClient, headers: dict[str, str]
    ) -> None:
        """Without faults the create's rows are all there (and the record exactly when a key was sent)."""
        resp = await client.post(PATH, intent_body("cash"), headers=headers)
        assert resp.status == 201
        assert counts(pgw.db_path) == [(1, 1, 1, 1 if headers else 0)]
