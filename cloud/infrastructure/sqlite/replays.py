"""Accepted signatures of signed POSTs (hashes only), on SQLite (docs/cloud-api.md#replays).

The row's primary key is the signature's SHA-256: of two requests carrying the same signature, in this process
or another, the database lets exactly one insert commit; the other's unit fails with replayed_request.
"""

from __future__ import annotations

from cloud.domain.errors import Conflict
from cloud.domain.ports import AcceptedSignature
from cloud.infrastructure.sqlite.db import Database, Pending, Stmt
from cloud.infrastructure.sqlite.intents import ms

REPLAYED_CODE = "replayed_request"


def _seen_before(_: Exception) -> Conflict:
    return Conflict("this signature was already accepted", code=REPLAYED_CODE)


class SqliteReplayRecords:
    """The ReplayRecords port: table signature_replays."""

    def __init__(self, db: Database, pending: Pending) -> None:
        self._db = db
        self._pending = pending

    async def add(self, accepted: AcceptedSignature, now: float) -> None:
        """Stage the first acceptance; an expired row of the same signature (not purged yet) gives way."""
        self._pending.add([
            Stmt("DELETE FROM signature_replays WHERE signature_hash=? AND expires_at<=?",
                 (accepted.signature_hash, ms(now))),
            Stmt("INSERT INTO signature_replays VALUES (?, ?, ?)",
                 (accepted.signature_hash, accepted.key_hash, ms(accepted.expires_at)),
                 on_integrity=_seen_before),
        ])  # fmt: skip

    async def get(self, signature_hash: str, now: float) -> AcceptedSignature | None:
        """The committed, unexpired record, or None."""
        r = await self._db.fetch_one(
            "SELECT * FROM signature_replays WHERE signature_hash=? AND expires_at>?",
            (signature_hash, ms(now)),
        )
        if r is None:
            return None
        return AcceptedSignature(r["signature_hash"], r["key_hash"], r["expires_at"] / 1000)

    async def purge(self, now: float) -> None:
        """Stage dropping the expired records."""
        self._pending.add([Stmt("DELETE FROM signature_replays WHERE expires_at<=?", (ms(now),))])
