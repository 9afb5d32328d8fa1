"""Accepted signatures of signed POSTs (hashes only), on PostgreSQL (docs/cloud-api.md#replays): the primary
key lets exactly one of two workers that got the same signature commit; the other's unit is refused."""

from __future__ import annotations

from cloud.domain.ports import AcceptedSignature
from cloud.infrastructure.postgres.db import Op, Pending, PgDatabase
from cloud.infrastructure.sqlite.intents import ms
from cloud.infrastructure.sqlite.replays import _seen_before


class PgReplayRecords:
    """The ReplayRecords port: table signature_replays."""

    def __init__(self, db: PgDatabase, pending: Pending) -> None:
        self._db = db
        self._pending = pending

    async def add(self, accepted: AcceptedSignature, now: float) -> None:
        """Stage the first acceptance; an expired row of the same signature (not purged yet) gives way."""
        self._pending.add([
            Op("DELETE FROM signature_replays WHERE signature_hash=$1 AND expires_at<=$2",
               (accepted.signature_hash, ms(now))),
            Op("INSERT INTO signature_replays (signature_hash, key_hash, expires_at) VALUES ($1, $2, $3)",
               (accepted.signature_hash, accepted.key_hash, ms(accepted.expires_at)),
               on_integrity=_seen_before),
        ])  # fmt: skip

    async def get(self, signature_hash: str, now: float) -> AcceptedSignature | None:
        """The committed, unexpired record, or None."""
        r = await self._db.fetch_one(
            "SELECT signature_hash, key_hash, expires_at FROM signature_replays "
            "WHERE signature_hash=$1 AND expires_at>$2", (signature_hash, ms(now)))  # fmt: skip
        return None if r is None else AcceptedSignature(r[0], r[1], r[2] / 1000)

    async def purge(self, now: float) -> None:
        """Stage dropping the expired records."""
        self._pending.add([Op("DELETE FROM signature_replays WHERE expires_at<=$1", (ms(now),))])
