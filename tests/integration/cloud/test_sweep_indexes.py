"""The sweeper's purges read through the indexes of migrations 0720 and 0730 on SQLite and PostgreSQL: the
purge of finished outbox events (docs/operations.md#webhooks) and the forgetting of expired previous secrets
(docs/cloud-api.md#rotating-a-secret).

Each statement is captured from the repository while `sweep_once` runs it, then EXPLAINed with its own
parameters, on tables filled (and ANALYZEd) enough for PostgreSQL's planner to weigh an index against a scan.
The purges still forget exactly what they forgot before."""

from __future__ import annotations

import argparse
import base64
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from cloud.admin.secrets import rotate_secret
from cloud.api.app import PURGE_PAGE, sweep_once
from cloud.api.keys import SETTINGS
from cloud.domain.webhooks import EndpointStatus, Event, WebhookEndpoint
from cloud.infrastructure.postgres.webhooks import pg_sql
from cloud.infrastructure.sqlite.db import Stmt
from cloud.testing import Tenant
from tests.pgserver import on_thread

from .conftest import Pgw
from .helpers import execute, rows

Captured = list[tuple[str, tuple[Any, ...]]]
LIST = "/v1/payment_intents"
PAGES = 2  # the old events fill this many purge pages, and some
FRESH, OLD = 3000, PAGES * PURGE_PAGE + 100  # events inside / past the retention
FILLER = 3000  # credentials that never rotated
WHSEC = "whsec_" + base64.b64encode(b"sweep-test-secret-bytes!").decode()
EVENT_BODY = b'{"filler": "' + b"x" * 600 + b'"}'  # about the size of a payment_intent event


def capture(monkeypatch: pytest.MonkeyPatch, repo: Any) -> Captured:
    """Every statement the repository reads or writes from now on, with its (first row of) parameters; the
    repository still runs each one on its database."""
    seen: Captured = []
    fetch_all, write = repo._fetch_all, repo._write

    async def fetching(sql: str, params: Sequence[Any]) -> list[Any]:
        seen.append((sql, tuple(params)))
        found: list[Any] = await fetch_all(sql, params)
        return found

    async def writing(stmts: Sequence[Stmt]) -> None:
        seen.extend((s.sql, tuple(s.params[0] if s.many else s.params)) for s in stmts)
        await write(stmts)

    monkeypatch.setattr(repo, "_fetch_all", fetching)
    monkeypatch.setattr(repo, "_write", writing)
    return seen


async def _pg_plan(url: str, sql: str, params: tuple[Any, ...], seqscan: bool) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        if not seqscan:
            await conn.execute("SET enable_seqscan = off")
        return [r[0] for r in await conn.fetch("EXPLAIN " + pg_sql(sql), *params)]
    finally:
        await conn.close()


def plan(db_path: Path | str, sql: str, params: tuple[Any, ...], *, seqscan: bool = True) -> list[str]:
    """The engine's plan of one statement, one step a line: EXPLAIN QUERY PLAN on SQLite, EXPLAIN on
    PostgreSQL (with `seqscan=False`: only where no index path exists is a table read whole)."""
    if isinstance(db_path, str):
        return on_thread(_pg_plan(db_path, sql, params, seqscan))
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return [r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
    finally:
        conn.close()


def assert_served(db_path: Path | str, sql: str, params: tuple[Any, ...], table: str, *indexes: str) -> None:
    """The plan reads `table` (as named in `sql`, alias included) through one of `indexes` and sorts
    nothing; on SQLite every table it touches is searched by an index; on PostgreSQL each has an index path
    (the planner may still hash a small table whole, cheaper there than looking rows up one by one)."""
    shown = plan(db_path, sql, params)
    text = "\n".join(shown)
    if isinstance(db_path, str):
        assert any(f"using {index} on {table}" in line for line in shown for index in indexes), text
        assert not any(f"Seq Scan on {table}" in line for line in shown), text
        assert not any(line.strip().lstrip("-> ").startswith("Sort") for line in shown), text
        forced = plan(db_path, sql, params, seqscan=False)
        assert not any("Seq Scan" in line for line in forced), "\n".join(forced)
        return
    alias = table.rsplit(maxsplit=1)[-1]
    searched = (line for line in shown if line.startswith(f"SEARCH {alias} USING"))
    assert any(f"INDEX {index} (" in line for line in searched for index in indexes), text
    assert not any(line.startswith("SCAN ") or "TEMP B-TREE" in line for line in shown), text


def insert_many(db_path: Path | str, sql: str, params: list[tuple[Any, ...]]) -> None:
    """Seed rows from another connection, in one transaction (`?` placeholders on both engines)."""
    if isinstance(db_path, str):
        on_thread(_pg_insert(db_path, pg_sql(sql), params))
        return
    with sqlite3.connect(db_path) as conn:
        conn.executemany(sql, params)


async def _pg_insert(url: str, sql: str, params: list[tuple[Any, ...]]) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.executemany(sql, params)
    finally:
        await conn.close()


def count(db_path: Path | str, sql: str, params: tuple[Any, ...] = ()) -> int:
    """The one integer a `SELECT count(*) …` answers."""
    return int(rows(db_path, sql, params)[0][0])


def kept(db_path: Path | str, table: str, column: str, prefix: str) -> int:
    """How many rows of the outbox table belong to events whose id starts with `prefix`."""
    return count(db_path, f"SELECT count(*) FROM {table} WHERE {column} LIKE ?", (prefix + "%",))  # noqa: S608


class TestOutboxPurge:
    async def test_the_purge_reads_old_events_by_index_and_keeps_what_it_kept(
        self, pgw: Pgw, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Each statement of the purge picks its events through webhook_events_created, in the index's order;
        the sweeps forget the old finished events (oldest first, PURGE_PAGE a sweep) with their deliveries and
        log, and keep the fresh ones and an old one whose delivery is still pending."""
        repo, settings, now = pgw.deps.webhooks, pgw.app[SETTINGS], pgw.clock()
        assert repo is not None
        await repo.add_endpoint(WebhookEndpoint("we_sweep", tenant.partner_id, "https://hooks.example/x",
                                                ("*",), WHSEC, EndpointStatus.ENABLED, now))  # fmt: skip
        past = now - settings.webhook_retention_seconds - 3600
        at = [past - 2 * OLD, *(past - OLD + i for i in range(OLD)), *(now - FRESH + i for i in range(FRESH))]
        ids = ["evt_pending", *(f"evt_old{i:05d}" for i in range(OLD)),
               *(f"evt_new{i:05d}" for i in range(FRESH))]  # fmt: skip
        async with pgw.deps.uow() as uow:  # through the outbox port, as a change writes them
            for event_id, created in zip(ids, at, strict=True):
                await uow.outbox.add(Event(event_id, "payment_intent.succeeded", tenant.partner_id, created,
                                           EVENT_BODY))  # fmt: skip
            await uow.commit()
        await repo.set_status("we_sweep", False, "test", now)  # the dispatcher leaves the pending one be
        execute(pgw.db_path, "UPDATE webhook_deliveries SET status = 'delivered' WHERE event_id <> ?",
                ("evt_pending",))  # fmt: skip
        execute(pgw.db_path, "INSERT INTO webhook_attempts (event_id, endpoint_id, attempt, at, status_code, "
                             "latency_ms, excerpt) SELECT event_id, endpoint_id, 1, next_attempt_at, 200, 3, "
                             "'' FROM webhook_deliveries")  # fmt: skip
        execute(pgw.db_path, "ANALYZE")

        seen = capture(monkeypatch, repo)
        assert await sweep_once(pgw.deps, settings)
        seen = [(sql, params) for sql, params in seen if sql.startswith("DELETE")]  # not the dispatcher's
        assert [sql.split(" WHERE ")[0].removeprefix("DELETE FROM ") for sql, _ in seen] == [
            "webhook_attempts", "webhook_deliveries", "webhook_events"]  # fmt: skip
        for sql, params in seen:
            assert_served(pgw.db_path, sql, params, "webhook_events e", "webhook_events_created")

        left = rows(pgw.db_path, "SELECT id FROM webhook_events WHERE id LIKE 'evt_old%' ORDER BY id")
        assert [r[0] for r in left] == [f"evt_old{i:05d}" for i in range(PURGE_PAGE, OLD)]  # oldest first
        for _ in range(PAGES):
            await sweep_once(pgw.deps, settings)
        for table, column in (("webhook_events", "id"), ("webhook_deliveries", "event_id"),
                              ("webhook_attempts", "event_id")):  # fmt: skip
            assert kept(pgw.db_path, table, column, "evt_old") == 0
            assert kept(pgw.db_path, table, column, "evt_new") == FRESH
        pending = rows(pgw.db_path, "SELECT d.status FROM webhook_events e JOIN webhook_deliveries d "
                                    "ON d.event_id = e.id WHERE e.id = 'evt_pending'")  # fmt: skip
        assert pending == [("pending",)]


async def _rotate(pgw: Pgw, tenant: Tenant, expires_in: str) -> None:
    """`admin partner rotate-secret`; the old secret lives `expires_in` more."""
    await rotate_secret(argparse.Namespace(partner=tenant.partner_id, old_expires_in=expires_in,
                                           api_key=tenant.api_key),
                        pgw.deps)  # fmt: skip


class TestExpiredPreviousSecrets:
    async def test_the_sweep_finds_expired_secrets_by_index_and_forgets_only_those(
        self, pgw: Pgw, tenant: Tenant, other_tenant: Tenant, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Among thousands of credentials that never rotated, the sweep's read walks the partial index
        credentials_previous_expiry and its writes look credentials up by key; the previous secret past its
        expiry is dropped with its use, the one still in its overlap is kept and still signs."""
        filler = [(f"pk_fill_{i:05d}", f"{i:064x}", "partner", tenant.partner_id, int(pgw.clock() * 1000))
                  for i in range(FILLER)]  # fmt: skip
        insert_many(pgw.db_path, "INSERT INTO credentials (api_key, secret_key_hash, kind, partner_id, "
                                 "created_at) VALUES (?, ?, ?, ?, ?)", filler)  # fmt: skip
        await _rotate(pgw, tenant, "1h")
        await _rotate(pgw, other_tenant, "48h")
        old_secret, other_old = pgw.client(tenant), pgw.client(other_tenant)
        assert (await old_secret.get(LIST)).status == 200  # the old secret is used (and that use noted)
        [(old_hash,)] = rows(pgw.db_path, "SELECT previous_key_hash FROM credentials WHERE api_key = ?",
                             (tenant.api_key,))  # fmt: skip
        uses = "SELECT count(*) FROM credential_uses WHERE api_key = ? AND key_hash = ?"
        assert count(pgw.db_path, uses, (tenant.api_key, old_hash)) == 1
        execute(pgw.db_path, "ANALYZE")

        pgw.clock.advance(2 * 3600)
        assert pgw.deps.secrets is not None
        seen = capture(monkeypatch, pgw.deps.secrets)
        assert await sweep_once(pgw.deps, pgw.app[SETTINGS])
        assert [sql.split()[0] for sql, _ in seen] == ["SELECT", "UPDATE", "DELETE"], seen
        (read, read_params), (update, update_params) = seen[:2]
        assert_served(pgw.db_path, read, read_params, "credentials", "credentials_previous_expiry")
        key = "credentials_pkey" if isinstance(pgw.db_path, str) else "sqlite_autoindex_credentials_1"
        assert_served(pgw.db_path, update, update_params, "credentials", key, "credentials_previous_expiry")

        previous = ("SELECT previous_key_hash IS NULL, previous_expires_at IS NULL FROM credentials "
                    "WHERE api_key = ?")  # fmt: skip
        assert rows(pgw.db_path, previous, (tenant.api_key,)) == [(True, True)]
        assert count(pgw.db_path, uses, (tenant.api_key, old_hash)) == 0
        assert rows(pgw.db_path, previous, (other_tenant.api_key,)) == [(False, False)]
        assert (await other_old.get(LIST)).status == 200  # still in its 48 h
        assert count(pgw.db_path, "SELECT count(*) FROM credentials WHERE previous_key_hash IS NOT NULL") == 1
