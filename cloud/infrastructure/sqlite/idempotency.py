"""Stored responses of POSTs carrying an Idempotency-Key (24 h), on SQLite."""

from __future__ import annotations

from cloud.domain.ports import StoredResponse
from cloud.infrastructure.sqlite.db import Database, Stmt
from cloud.infrastructure.sqlite.intents import ms


class SqliteIdempotencyStore:
    """Idempotency records keyed by (credential scope, key)."""

    def __init__(self, db: Database) -> None:
        self._db = db

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

    async def put(self, scope: str, key: str, stored: StoredResponse) -> None:
        """Record (or replace an expired record of) a response."""
        await self._db.write([
            Stmt(
                "INSERT OR REPLACE INTO idempotency_keys VALUES (?, ?, ?, ?, ?, ?, ?)",
                (scope, key, stored.fingerprint, stored.status_code, stored.body, stored.token_intent,
                 ms(stored.created_at)),
            )
        ])  # fmt: skip

    async def purge(self, older_than: float) -> None:
        """Drop records past their 24 h life."""
        await self._db.write([Stmt("DELETE FROM idempotency_keys WHERE created_at<=?", (ms(older_than),))])
