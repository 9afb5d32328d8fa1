"""The Outbox and WebhookRepository ports on SQLite (docs/cloud-api.md#webhooks).

The outbox stages its rows in the unit of work of the change: the event row and its deliveries commit with
the intent's new state, or not at all. The fan-out is one INSERT … SELECT over the partner's endpoints, so
it sees the endpoints as they are when that transaction commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cloud.domain.errors import NotFound
from cloud.domain.webhooks import (
    DISABLE_AFTER_S,
    DueDelivery,
    EndpointStatus,
    Event,
    Outcome,
    WebhookEndpoint,
)
from cloud.infrastructure.crypto import SecretBox
from cloud.infrastructure.sqlite.db import Database, Pending, Stmt
from cloud.infrastructure.sqlite.intents import ms

# An endpoint subscribes to a type when its events are '*' or list the type between commas.
_WANTS = "(w.events = '*' OR instr(',' || w.events || ',', ',' || CAST(? AS TEXT) || ',') > 0)"
_LISTENERS = f"webhook_endpoints w WHERE w.partner_id = ? AND w.status = 'enabled' AND {_WANTS}"
_EVENT = ("INSERT INTO webhook_events (id, partner_id, type, created_at, body) SELECT ?, ?, ?, ?, ? "  # noqa: S608
          "WHERE EXISTS (SELECT 1 FROM " + _LISTENERS + ")")  # built from constants only
_FAN_OUT = ("INSERT INTO webhook_deliveries (event_id, endpoint_id, status, attempts, next_attempt_at) "  # noqa: S608
            "SELECT ?, w.id, 'pending', 0, ? FROM " + _LISTENERS)
_REQUEUE = ("INSERT INTO webhook_deliveries (event_id, endpoint_id, status, attempts, next_attempt_at) "
            "SELECT e.id, w.id, 'pending', 0, ? FROM webhook_events e JOIN webhook_endpoints w "
            "ON w.partner_id = e.partner_id AND w.status = 'enabled' "
            "AND (w.events = '*' OR instr(',' || w.events || ',', ',' || e.type || ',') > 0) WHERE e.id = ? "
            "ON CONFLICT (event_id, endpoint_id) DO UPDATE SET status = 'pending', attempts = 0, "
            "next_attempt_at = excluded.next_attempt_at")
_DUE = ("SELECT d.event_id, d.endpoint_id, d.attempts, w.url, w.secret_enc, e.body "
        "FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id "
        "JOIN webhook_events e ON e.id = d.event_id "
        "WHERE d.status = 'pending' AND d.next_attempt_at <= ? AND w.status = 'enabled' "
        "ORDER BY d.next_attempt_at LIMIT ?")


def event_stmts(event: Event) -> list[Stmt]:
    """The outbox rows of one event: the event (if anyone listens) and its deliveries."""
    at = ms(event.created_at)
    return [
        Stmt(_EVENT, (event.id, event.partner_id, event.type, at, event.body, event.partner_id, event.type)),
        Stmt(_FAN_OUT, (event.id, at, event.partner_id, event.type)),
    ]


def outcome_stmts(o: Outcome, disable_before: float) -> list[Stmt]:
    """The delivery's new state, its log row and the endpoint's failure run (SQLite and PostgreSQL alike,
    with `?` placeholders)."""
    d, r, at = o.delivery, o.result, ms(o.at)
    status = "delivered" if r.ok else ("failed" if o.gave_up else "pending")
    next_at = ms(o.next_at) if o.next_at is not None else at
    stmts = [
        Stmt("UPDATE webhook_deliveries SET status = ?, attempts = attempts + 1, next_attempt_at = ?, "
             "last_status = ?, last_attempt_at = ? WHERE event_id = ? AND endpoint_id = ?",
             (status, next_at, r.status, at, d.event_id, d.endpoint_id)),
        Stmt("INSERT INTO webhook_attempts (event_id, endpoint_id, attempt, at, status_code, latency_ms,"
             " error, excerpt) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
             (d.event_id, d.endpoint_id, d.attempts + 1, at, r.status, r.latency_ms, r.error, r.excerpt)),
    ]  # fmt: skip
    if r.ok:
        stmts.append(Stmt("UPDATE webhook_endpoints SET failing_since = NULL WHERE id = ?", (d.endpoint_id,)))
        return stmts
    stmts.append(Stmt("UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, ?) WHERE id = ?",
                      (at, d.endpoint_id)))  # fmt: skip
    if o.gave_up:
        stmts.append(Stmt(
            "UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = 'failing' "
            "WHERE id = ? AND failing_since IS NOT NULL AND failing_since <= ?",
            (d.endpoint_id, ms(disable_before))))  # fmt: skip
    return stmts


class SqliteOutbox:
    """The Outbox port: stages into the unit of work's Pending list."""

    def __init__(self, pending: Pending) -> None:
        self._pending = pending

    async def add(self, event: Event) -> None:
        """Stage the event and its deliveries."""
        self._pending.add(event_stmts(event))


def endpoint_of(r: Any, secret: str) -> WebhookEndpoint:
    """An endpoint from its row (SQLite Row or asyncpg Record) and its opened (or blank) secret."""
    failing = r["failing_since"]
    return WebhookEndpoint(r["id"], r["partner_id"], r["url"], tuple(r["events"].split(",")), secret,
                           EndpointStatus(r["status"]), r["created_at"] / 1000,
                           None if failing is None else failing / 1000, r["disabled_reason"])  # fmt: skip


def attempt_json(r: Any) -> dict[str, object]:
    """One delivery log row as shown by `admin webhook attempts`."""
    return {"endpoint_id": r["endpoint_id"], "attempt": r["attempt"], "at": r["at"] // 1000,
            "status_code": r["status_code"], "latency_ms": r["latency_ms"], "error": r["error"],
            "response_excerpt": r["excerpt"]}  # fmt: skip


# The same set in each statement of one purge: nothing else in it changes which events qualify.
_FINISHED = ("SELECT e.id FROM webhook_events e WHERE e.created_at < ? AND NOT EXISTS (SELECT 1 FROM "
             "webhook_deliveries d WHERE d.event_id = e.id AND d.status = 'pending') "
             "ORDER BY e.created_at, e.id LIMIT ?")  # fmt: skip


class SqliteWebhookRepository:
    """The WebhookRepository port; endpoint secrets sealed with the cloud's key (like provider configs)."""

    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db, self._box = db, box

    # The PostgreSQL repository (cloud/infrastructure/postgres/webhooks.py) overrides these three.
    async def _fetch_all(self, sql: str, params: Sequence[Any]) -> list[Any]:
        return await self._db.fetch_all(sql, params)

    async def _fetch_one(self, sql: str, params: Sequence[Any]) -> Any:
        rows = await self._fetch_all(sql, params)
        return rows[0] if rows else None

    async def _write(self, stmts: Sequence[Stmt]) -> None:
        await self._db.write(stmts)

    async def purge(self, older_than: float, limit: int) -> None:
        """Events past retention whose deliveries all ended (delivered or failed), their deliveries and log,
        oldest first, in one unit (docs/operations.md#webhooks)."""
        params = (ms(older_than), limit)
        await self._write([Stmt(sql, params) for sql in (
            f"DELETE FROM webhook_attempts WHERE event_id IN ({_FINISHED})",  # noqa: S608 -- constants
            f"DELETE FROM webhook_deliveries WHERE event_id IN ({_FINISHED})",  # noqa: S608
            f"DELETE FROM webhook_events WHERE id IN ({_FINISHED})",  # noqa: S608
        )])  # fmt: skip

    async def add_endpoint(self, endpoint: WebhookEndpoint) -> None:
        """Insert; NotFound for an unknown partner."""
        e = endpoint
        unknown = NotFound(f"no client partner {e.partner_id}", param="partner")
        stmt = Stmt("INSERT INTO webhook_endpoints (id, partner_id, url, events, secret_enc, status, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (e.id, e.partner_id, e.url, ",".join(e.events), self._box.seal({"secret": e.secret}),
                     e.status.value, ms(e.created_at)), on_integrity=lambda _: unknown)  # fmt: skip
        await self._write([stmt])

    async def get_endpoint(self, endpoint_id: str) -> WebhookEndpoint | None:
        """The endpoint with its secret opened."""
        r = await self._fetch_one("SELECT * FROM webhook_endpoints WHERE id = ?", (endpoint_id,))
        return None if r is None else endpoint_of(r, self._box.open(r["secret_enc"])["secret"])

    async def list_endpoints(self, partner_id: str | None) -> Sequence[WebhookEndpoint]:
        """Oldest first; the sealed secrets are not opened."""
        rows = await self._fetch_all(
            "SELECT * FROM webhook_endpoints WHERE CAST(? AS TEXT) IS NULL OR partner_id = ? "
            "ORDER BY created_at, id", (partner_id, partner_id))  # fmt: skip
        return [endpoint_of(r, "") for r in rows]

    async def set_status(self, endpoint_id: str, enabled: bool, reason: str | None, now: float) -> None:
        """Enable (the failure run forgotten, waiting deliveries due now) or disable."""
        stmts = [Stmt("UPDATE webhook_endpoints SET status = ?, disabled_reason = ?, failing_since = NULL "
                      "WHERE id = ?", ("enabled" if enabled else "disabled", reason, endpoint_id),
                      expect_one=True, on_stale=lambda _: NotFound("no such webhook endpoint",
                                                                   param="endpoint"))]  # fmt: skip
        if enabled:
            stmts.append(Stmt("UPDATE webhook_deliveries SET next_attempt_at = ? "
                              "WHERE endpoint_id = ? AND status = 'pending'", (ms(now), endpoint_id)))
        await self._write(stmts)

    async def delete_endpoint(self, endpoint_id: str) -> None:
        """Remove the endpoint, its deliveries and their log."""
        await self._write([
            Stmt("DELETE FROM webhook_attempts WHERE endpoint_id = ?", (endpoint_id,)),
            Stmt("DELETE FROM webhook_deliveries WHERE endpoint_id = ?", (endpoint_id,)),
            Stmt("DELETE FROM webhook_endpoints WHERE id = ?", (endpoint_id,), expect_one=True,
                 on_stale=lambda _: NotFound("no such webhook endpoint", param="endpoint")),
        ])  # fmt: skip

    async def claim_due(self, now: float, limit: int, lease_s: float) -> Sequence[DueDelivery]:
        """Due deliveries, each pushed `lease_s` ahead so a crash mid-send retries it after the lease."""
        rows = await self._fetch_all(_DUE, (ms(now), limit))
        if not rows:
            return []
        keys = [(ms(now + lease_s), r["event_id"], r["endpoint_id"]) for r in rows]
        await self._write([Stmt("UPDATE webhook_deliveries SET next_attempt_at = ? "
                                   "WHERE event_id = ? AND endpoint_id = ?", keys, many=True)])  # fmt: skip
        opened = [self._box.open(r["secret_enc"])["secret"] for r in rows]
        return [DueDelivery(r["event_id"], r["endpoint_id"], r["attempts"], r["url"], secret,
                            bytes(r["body"])) for r, secret in zip(rows, opened, strict=True)]  # fmt: skip

    async def record(self, outcome: Outcome) -> None:
        """The outcome in one unit."""
        await self._write(outcome_stmts(outcome, outcome.at - DISABLE_AFTER_S))

    async def redeliver(self, event_id: str, now: float) -> int:
        """Queue the event again for its subscribed, enabled endpoints."""
        if await self._fetch_one("SELECT 1 FROM webhook_events WHERE id = ?", (event_id,)) is None:
            raise NotFound("no such event (events nobody subscribed to are not kept)", param="event")
        await self._write([Stmt(_REQUEUE, (ms(now), event_id))])
        found = await self._fetch_one(
            "SELECT count(*) AS n FROM webhook_deliveries WHERE event_id = ? AND status = 'pending'",
            (event_id,))  # fmt: skip
        return 0 if found is None else int(found["n"])

    async def attempts(self, event_id: str) -> Sequence[dict[str, object]]:
        """The event's delivery log."""
        rows = await self._fetch_all("SELECT * FROM webhook_attempts WHERE event_id = ? ORDER BY id",
                                        (event_id,))  # fmt: skip
        return [attempt_json(r) for r in rows]
