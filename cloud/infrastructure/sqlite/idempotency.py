"""Stored responses of POSTs carrying an Idempotency-Key (24 h), on SQLite.

The record commits in the same unit as the business rows of the request it answers (DESIGN §5), so a crash
can never leave an intent created without the response a retry must get back.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from cloud.domain.errors import Conflict
from cloud.domain.ports import StoredResponse
from cloud.infrastructure.sqlite.db import Database, Stmt, hold_writes
from cloud.infrastructure.sqlite.intents import ms

IN_FLIGHT_CODE = "idempotency_in_flight"


def _recorded_meanwhile(_: Exception) -> Conflict:
    return Conflict("a request with this Idempotency-Key was recorded meanwhile; retry", code=IN_FLIGHT_CODE)


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

    @contextmanager
    def hold_writes(self) -> Iterator[Sequence[object]]:
        """Writes of this task to the same database are held (not committed) until commit()."""
        with hold_writes() as held:
            yield held

    async def commit(
        self,
        held: Sequence[object],
        scope: str,
        key: str,
        stored: StoredResponse | None,
        expired_before: float,
    ) -> None:
        """Commit the held writes and the record as ONE unit (one COMMIT). The record goes first: if the key
        was recorded meanwhile (another process), the whole unit fails with Conflict idempotency_in_flight."""
        stmts = [s for s in held if isinstance(s, Stmt)]
        assert len(stmts) == len(held), "commit() takes what hold_writes() yielded"
        if stored is not None:
            stmts[:0] = [
                # A record past its 24 h life that the sweeper has not purged yet gives way to the new one.
                Stmt("DELETE FROM idempotency_keys WHERE scope=? AND key=? AND created_at<=?",
                     (scope, key, ms(expired_before))),
                Stmt("INSERT INTO idempotency_keys VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (scope, key, stored.fingerprint, stored.status_code, stored.body, stored.token_intent,
                      ms(stored.created_at)), on_integrity=_recorded_meanwhile),
            ]  # fmt: skip
        if stmts:
            await self._db.write(stmts)

    async def purge(self, older_than: float) -> None:
        """Drop records past their 24 h life."""
        await self._db.write([Stmt("DELETE FROM idempotency_keys WHERE created_at<=?", (ms(older_than),))])
