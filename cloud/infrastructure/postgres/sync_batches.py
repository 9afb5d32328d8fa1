"""SyncRepository on PostgreSQL: a batch's rows with set-based statements (unnest arrays, COPY), in the
batch's one transaction (docs/sync-protocol.md).

The device's sync-state row is written FIRST in that transaction: the version-guarded UPDATE (or the first
INSERT) locks the row, so a second worker's batch of the same device waits there until the first commits,
then finds the version moved (no row updated) and re-plans against what the first stored. The hash chain
and seq checks of one device therefore never run on a stale head, and (device_id, local_id) stays exactly
once: the sync_items insert is ON CONFLICT DO NOTHING RETURNING, and a short RETURNING is a lost race too.
"""

from __future__ import annotations

import json
from typing import Any

from cloud.domain.sync import Anomaly, BatchWrite, DeviceSyncState, SyncRace
from cloud.infrastructure.postgres.db import Op, Pending, PgDatabase
from cloud.infrastructure.sqlite.intents import ms, sync_race
from cloud.infrastructure.sqlite.sync_batches import STATE_COLS, state_from_row, state_values

_ITEMS = ("INSERT INTO sync_items (device_id, local_id, payment_intent_id, seq, hash, batch_id, received_at) "
          "SELECT $1, l, p, s, h, $2, $3 FROM unnest($4::text[], $5::text[], $6::bigint[], $7::text[]) "
          "AS u(l, p, s, h) ON CONFLICT DO NOTHING RETURNING local_id")  # fmt: skip
_REJECTIONS = ("INSERT INTO sync_rejections (device_id, local_id, seq, error, batch_id, received_at) "
               "SELECT $1, l, s, e, $2, $3 FROM unnest($4::text[], $5::bigint[], $6::text[]) AS u(l, s, e) "
               "ON CONFLICT DO NOTHING")  # fmt: skip
_ANOMALIES = ("INSERT INTO sync_anomalies (device_id, kind, local_id, seq, detail, batch_id, detected_at) "
              "SELECT $1, k, l, s, d, $2, $3 FROM unnest($4::text[], $5::text[], $6::bigint[], $7::text[]) "
              "AS u(k, l, s, d)")  # fmt: skip
_RECEIPT = ("INSERT INTO sync_batches (batch_id, device_id, sent_at, received_at, items, accepted, "
            "duplicates, rejected) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")  # fmt: skip
_STATE_INSERT = (f"INSERT INTO device_sync_state ({STATE_COLS}) "  # noqa: S608 — constants
                 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1) ON CONFLICT (device_id) DO NOTHING")
_STATE_UPDATE = ("UPDATE device_sync_state SET last_seq=$1, last_hash=$2, chain_broken=$3, seq_gaps=$4, "
                 "anomalies=$5, clock_offset_ms=$6, last_batch_id=$7, last_batch_at=$8, accepted_total=$9, "
                 "version=version+1 WHERE device_id=$10 AND version=$11")  # fmt: skip


def _state_op(s: DeviceSyncState, last_at: int) -> Op:
    values = state_values(s, last_at)
    if s.version == 0:  # a concurrent first batch inserted the row first: nothing inserted, a lost race
        return Op(_STATE_INSERT, (s.device_id, *values), expect_one=True, on_stale=sync_race)
    return Op(_STATE_UPDATE, (*values, s.device_id, s.version), expect_one=True, on_stale=sync_race)


def _items_op(b: BatchWrite, at: int) -> Op:
    columns = ([a.sale.local_id for a in b.accepted], [a.record.intent_id for a in b.accepted],
               [a.sale.seq for a in b.accepted], [a.hash for a in b.accepted])  # fmt: skip

    async def run(conn: Any) -> None:
        stored = await conn.fetch(_ITEMS, b.device_id, b.batch_id, at, *columns)
        if len(stored) != len(b.accepted):
            raise SyncRace("a concurrent batch stored some of these local_ids first")

    return Op(_ITEMS, run=run, on_integrity=sync_race)


class PgSyncRepository:
    """sync_items is the exactly-once key (PRIMARY KEY (device_id, local_id)); the rest is bookkeeping."""

    def __init__(self, db: PgDatabase, pending: Pending) -> None:
        self._db = db
        self._pending = pending

    async def known(self, device_id: str, local_ids: list[str]) -> tuple[dict[str, str], dict[str, str]]:
        """Already accepted and already rejected local_ids of this device among the given ones."""
        accepted = await self._db.fetch_all(
            "SELECT local_id, payment_intent_id FROM sync_items "
            "WHERE device_id=$1 AND local_id=ANY($2::text[])",
            (device_id, local_ids))  # fmt: skip
        rejected = await self._db.fetch_all(
            "SELECT local_id, error FROM sync_rejections WHERE device_id=$1 AND local_id=ANY($2::text[])",
            (device_id, local_ids))  # fmt: skip
        return {r[0]: r[1] for r in accepted}, {r[0]: r[1] for r in rejected}

    async def refs_in_use(self, merchant_id: str, refs: list[str]) -> set[str]:
        """merchant_ref_ids among `refs` that the merchant already used."""
        rows = await self._db.fetch_all(
            "SELECT merchant_ref_id FROM payment_intents "
            "WHERE merchant_id=$1 AND merchant_ref_id=ANY($2::text[])",
            (merchant_id, refs))  # fmt: skip
        return {str(r[0]) for r in rows}

    async def state(self, device_id: str) -> DeviceSyncState:
        """The stored state, or a fresh one (version 0)."""
        r = await self._db.fetch_one(f"SELECT {STATE_COLS} FROM device_sync_state WHERE device_id=$1",  # noqa: S608
                                     (device_id,))  # fmt: skip
        return state_from_row(device_id, r)

    async def add(self, batch: BatchWrite) -> None:
        """Stage the state row first (it serializes the device's batches), then items, rejections,
        anomalies and the receipt; SyncRace at commit on a lost race."""
        b, at = batch, ms(batch.received_at)
        ops = [_items_op(b, at)] if b.accepted else []
        rejections = [r for r in b.rejections if r.local_id]
        if rejections:
            ops.append(Op(_REJECTIONS, (b.device_id, b.batch_id, at, [r.local_id for r in rejections],
                                        [r.seq for r in rejections],
                                        [json.dumps(r.error, ensure_ascii=False) for r in rejections])))
        if b.anomalies:
            x = b.anomalies
            ops.append(Op(_ANOMALIES, (b.device_id, b.batch_id, at, [a.kind for a in x],
                                       [a.local_id for a in x], [a.seq for a in x], [a.detail for a in x])))
        ops.append(Op(_RECEIPT, (b.batch_id, b.device_id, b.sent_at, at, b.items,
                                 len(b.accepted) + len(b.refunds), b.duplicates, len(b.rejections)),
                      on_integrity=sync_race))
        self._pending.add([_state_op(b.state, at)], first=True)
        self._pending.add(ops)

    async def anomalies(self, device_id: str, limit: int) -> list[Anomaly]:
        """Recorded anomalies, oldest first."""
        rows = await self._db.fetch_all(
            "SELECT kind, local_id, seq, detail FROM sync_anomalies WHERE device_id=$1 ORDER BY id LIMIT $2",
            (device_id, limit))  # fmt: skip
        return [Anomaly(r[0], r[1], r[2], r[3]) for r in rows]
