"""Stored responses of POSTs carrying an Idempotency-Key (24 h), on SQLite.

The record is staged in the unit of work of the request it answers, so it commits with the business rows
(docs/cloud-api.md): a crash can never leave an intent created without the response a retry must get back.
"""

from __future__ import annotations

from cloud.domain.errors import Conflict
from cloud.domain.ports import StoredResponse
from cloud.infrastructure.sqlite.db import Database, Pending, Stmt
from cloud.infrastructure.sqlite.intents import ms

IN_FLIGHT_CODE = "idempotency_in_flight"


def _recorded_meanwhile(_: Exception) -> Conflict:
    return Conflict("a request with this Idempotency-Key was recorded meanwhile; retry", code=IN_FLIGHT_CODE)


class SqliteIdempotencyStore:
    """Idempotency records keyed by (credential scope, key)."""

    def __init__(self, db: Database, pending: Pending) -> None:
        self._db = db
        self._pending = pending

    async def get(self, scope: str, key: str, newer_than: float) -> StoredResponse | None:
        """The stored response if recorded after `newer_than`, else None."""
        r = await self._db.fetch_one(
            "SELECT * FROM idempotency_keys WHERE scope=? AND key=? AND created_at>?",
            (scope, key, ms(newer_than)),
        )
        if r is None:
            return None
        return StoredResponse(r["fingerprint"], r["status_code"], bytes(r["body"]), r["token_intent"],
                              r["created_at"] / 1000)  # fmt: skip

    async def add(self, scope: str, key: str, stored: StoredResponse, expired_before: float) -> None:
        """Stage the record FIRST in the unit: if the key was recorded meanwhile (another process), the whole
        unit fails with Conflict idempotency_in_flight before any business row is tried."""
        self._pending.add([
            # A record past its 24 h life that the sweeper has not purged yet gives way to the new one.
            Stmt("DELETE FROM idempotency_keys WHERE scope=? AND key=? AND created_at<=?",
                 (scope, key, ms(expired_before))),
            Stmt("INSERT INTO idempotency_keys VALUES (?, ?, ?, ?, ?, ?, ?)",
                 (scope, key, stored.fingerprint, stored.status_code, stored.body, stored.token_intent,
                  ms(stored.created_at)), on_integrity=_recorded_meanwhile),
        ], first=True)  # fmt: skip

    async def purge(self, older_than: float) -> None:
        """Stage dropping the records past their 24 h life."""
        self._pending.add([Stmt("DELETE FROM idempotency_keys WHERE created_at<=?", (ms(older_than),))])
