"""Stored responses of POSTs carrying an Idempotency-Key, on PostgreSQL (docs/cloud-api.md#idempotency).

Staged first in the request's unit of work: of two workers recording one key at once, the second insert waits
for the first transaction and then fails on the primary key, so its whole unit fails with
idempotency_in_flight before any business row of it is kept.
"""

from __future__ import annotations

from cloud.domain.ports import StoredResponse
from cloud.infrastructure.postgres.db import Op, Pending, PgDatabase
from cloud.infrastructure.sqlite.idempotency import _recorded_meanwhile
from cloud.infrastructure.sqlite.intents import ms


class PgIdempotencyStore:
    """Idempotency records keyed by (credential scope, key)."""

    def __init__(self, db: PgDatabase, pending: Pending) -> None:
        self._db = db
        self._pending = pending

    async def get(self, scope: str, key: str, newer_than: float) -> StoredResponse | None:
        """The stored response if recorded after `newer_than`, else None."""
        r = await self._db.fetch_one(
            "SELECT fingerprint, status_code, body, token_intent, created_at FROM idempotency_keys "
            "WHERE scope=$1 AND key=$2 AND created_at>$3", (scope, key, ms(newer_than)))  # fmt: skip
        if r is None:
            return None
        return StoredResponse(r[0], r[1], bytes(r[2]), r[3], r[4] / 1000)

    async def add(self, scope: str, key: str, stored: StoredResponse, expired_before: float) -> None:
        """Stage the record FIRST in the unit; an expired record not purged yet gives way."""
        self._pending.add([
            Op("DELETE FROM idempotency_keys WHERE scope=$1 AND key=$2 AND created_at<=$3",
               (scope, key, ms(expired_before))),
            Op("INSERT INTO idempotency_keys (scope, key, fingerprint, status_code, body, token_intent, "
               "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
               (scope, key, stored.fingerprint, stored.status_code, stored.body, stored.token_intent,
                ms(stored.created_at)), on_integrity=_recorded_meanwhile),
        ], first=True)  # fmt: skip

    async def purge(self, older_than: float) -> None:
        """Stage dropping the records past their 24 h life."""
        self._pending.add([Op("DELETE FROM idempotency_keys WHERE created_at<=$1", (ms(older_than),))])
