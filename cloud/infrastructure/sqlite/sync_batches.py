"""SyncRepository on SQLite: a batch's bookkeeping rows staged in the unit of work, one executemany per
table (its intents and Transactions go through the intent repository's add_many, in the same unit)."""

from __future__ import annotations

import json
from typing import Any

from cloud.domain.sync import Anomaly, BatchWrite, DeviceSyncState
from cloud.infrastructure.sqlite.db import Database, Pending, Stmt
from cloud.infrastructure.sqlite.intents import ms, sync_race

_ITEM = "INSERT INTO sync_items VALUES (?, ?, ?, ?, ?, ?, ?)"
_REJECTION = "INSERT OR IGNORE INTO sync_rejections VALUES (?, ?, ?, ?, ?, ?)"
_ANOMALY = ("INSERT INTO sync_anomalies (device_id, kind, local_id, seq, detail, batch_id, detected_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)")
_RECEIPT = ("INSERT INTO sync_batches (batch_id, device_id, sent_at, received_at, items, accepted, "
            "duplicates, rejected) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
STATE_COLS = ("device_id, last_seq, last_hash, chain_broken, seq_gaps, anomalies, clock_offset_ms, "
               "last_batch_id, last_batch_at, accepted_total, version")
_STATE_INSERT = f"INSERT INTO device_sync_state ({STATE_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)"  # noqa: S608
_STATE_UPDATE = ("UPDATE device_sync_state SET last_seq=?, last_hash=?, chain_broken=?, seq_gaps=?, "
                 "anomalies=?, clock_offset_ms=?, last_batch_id=?, last_batch_at=?, accepted_total=?, "
                 "version=version+1 WHERE device_id=? AND version=?")  # fmt: skip


def _marks(n: int) -> str:
    return ",".join("?" * n) or "NULL"


def state_values(s: DeviceSyncState, last_at: int) -> tuple[object, ...]:
    """The state's columns after device_id, in STATE_COLS order (shared by the PostgreSQL repository)."""
    return (s.last_seq, s.last_hash, int(s.chain_broken), s.seq_gaps, s.anomalies, s.clock_offset_ms,
            s.last_batch_id, last_at, s.accepted_total)  # fmt: skip


def state_from_row(device_id: str, r: Any) -> DeviceSyncState:
    """A device_sync_state row (STATE_COLS, by name) as the domain's state; None → a fresh one (version 0)."""
    if r is None:
        return DeviceSyncState(device_id)
    at = None if r["last_batch_at"] is None else r["last_batch_at"] / 1000
    return DeviceSyncState(
        device_id, r["last_seq"], r["last_hash"], bool(r["chain_broken"]), r["seq_gaps"], r["anomalies"],
        r["clock_offset_ms"], r["last_batch_id"], at, r["accepted_total"], r["version"],
    )  # fmt: skip


def _state_stmt(s: DeviceSyncState, last_at: int) -> Stmt:
    values = state_values(s, last_at)
    if s.version == 0:
        return Stmt(_STATE_INSERT, (s.device_id, *values), on_integrity=sync_race)
    return Stmt(_STATE_UPDATE, (*values, s.device_id, s.version), expect_one=True, on_stale=sync_race)


class SqliteSyncRepository:
    """sync_items is the exactly-once key (PRIMARY KEY (device_id, local_id)); the rest is bookkeeping."""

    def __init__(self, db: Database, pending: Pending) -> None:
        self._db = db
        self._pending = pending

    async def known(self, device_id: str, local_ids: list[str]) -> tuple[dict[str, str], dict[str, str]]:
        """Already accepted and already rejected local_ids of this device among the given ones."""
        marks = _marks(len(local_ids))
        accepted = await self._db.fetch_all(
            f"SELECT local_id, payment_intent_id FROM sync_items WHERE device_id=? AND local_id IN ({marks})",  # noqa: S608
            (device_id, *local_ids))  # fmt: skip
        rejected = await self._db.fetch_all(
            f"SELECT local_id, error FROM sync_rejections WHERE device_id=? AND local_id IN ({marks})",  # noqa: S608
            (device_id, *local_ids))  # fmt: skip
        return {r[0]: r[1] for r in accepted}, {r[0]: r[1] for r in rejected}

    async def refs_in_use(self, merchant_id: str, refs: list[str]) -> set[str]:
        """merchant_ref_ids among `refs` that the merchant already used."""
        rows = await self._db.fetch_all(
            f"SELECT merchant_ref_id FROM payment_intents WHERE merchant_id=? AND merchant_ref_id IN "  # noqa: S608
            f"({_marks(len(refs))})", (merchant_id, *refs))  # fmt: skip
        return {str(r[0]) for r in rows}

    async def state(self, device_id: str) -> DeviceSyncState:
        """The stored state, or a fresh one (version 0)."""
        r = await self._db.fetch_one(f"SELECT {STATE_COLS} FROM device_sync_state WHERE device_id=?",  # noqa: S608
                                     (device_id,))  # fmt: skip
        return state_from_row(device_id, r)

    async def add(self, batch: BatchWrite) -> None:
        """Stage sync_items, rejections, anomalies, state and receipt (SyncRace at commit on a lost race)."""
        b, at = batch, ms(batch.received_at)
        items = [(b.device_id, a.sale.local_id, a.record.intent_id, a.sale.seq, a.hash, b.batch_id, at)
                 for a in b.accepted]  # fmt: skip
        rejections = [(b.device_id, r.local_id, r.seq, json.dumps(r.error, ensure_ascii=False), b.batch_id,
                       at) for r in b.rejections if r.local_id]  # fmt: skip
        anomalies = [(b.device_id, x.kind, x.local_id, x.seq, x.detail, b.batch_id, at) for x in b.anomalies]
        receipt = (b.batch_id, b.device_id, b.sent_at, at, b.items, len(b.accepted) + len(b.refunds),
                   b.duplicates, len(b.rejections))  # fmt: skip
        stmts = [Stmt(sql, rows, many=True, on_integrity=sync_race) for sql, rows in
                 ((_ITEM, items), (_REJECTION, rejections), (_ANOMALY, anomalies)) if rows]  # fmt: skip
        stmts += [_state_stmt(b.state, at), Stmt(_RECEIPT, receipt, on_integrity=sync_race)]
        self._pending.add(stmts)

    async def anomalies(self, device_id: str, limit: int) -> list[Anomaly]:
        """Recorded anomalies, oldest first."""
        rows = await self._db.fetch_all(
            "SELECT kind, local_id, seq, detail FROM sync_anomalies WHERE device_id=? ORDER BY id LIMIT ?",
            (device_id, limit))  # fmt: skip
        return [Anomaly(r[0], r[1], r[2], r[3]) for r in rows]
