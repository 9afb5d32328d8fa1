"""The sales of the agent's database: recording (hash chain, caps, gap-free seq), reads, expiry.

It writes only through the database's one group-commit writer and reads through its one reader
(agent/adapters/store/database.py).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from agent.adapters.store.chain import (
    SALE_COLUMNS,
    ChainWriter,
    Recorded,
    read_head,
    read_pending,
    sale_from_row,
)
from agent.adapters.store.database import AgentDatabase
from agent.domain.caps import PendingState
from agent.domain.errors import SaleRefused
from agent.domain.sale import NewSale, Sale
from agent.settings import OfflineSection
from sync.clock import wall_clock_ms
from sync.sqlite import GroupCommitWriter
from sync.telemetry import annotate, current_traceparent, traced


@dataclass(frozen=True, slots=True)
class SaleFilter:
    """Filters of GET /api/sales; times in unix ms; newest first, cursor `starting_after` (a local_id)."""

    sync_state: str | None = None
    status: str | None = None
    payment_method_type: str | None = None
    created_gte: int | None = None
    created_lte: int | None = None
    starting_after: str | None = None
    limit: int = 20


class Store:
    """The sale store over an open AgentDatabase; `await Store.open(path, caps)` opens one of its own."""

    def __init__(self, database: AgentDatabase, chain: ChainWriter, clock_ms: Callable[[], int], *,
                 owns_database: bool = False) -> None:
        self.database = database
        self.path = database.path
        self.chain = chain
        self.clock_ms = clock_ms
        self._owns = owns_database
        database.writer.register("sale", chain.handle, chain.on_commit)

    @classmethod
    async def over(cls, database: AgentDatabase, caps: OfflineSection, *,
                   clock_ms: Callable[[], int] = wall_clock_ms) -> Store:
        """The sale store of an open database (the chain head read from it)."""
        chain = ChainWriter(caps, clock_ms)
        chain.head_seq, chain.head_hash = await read_head(database.reader)
        return cls(database, chain, clock_ms)

    @classmethod
    async def open(cls, path: Path, caps: OfflineSection, *, clock_ms: Callable[[], int] = wall_clock_ms,
                   max_db_bytes: int = 0) -> Store:
        """Open the database (migrating it) and the sale store over it; close() closes both."""
        database = await AgentDatabase.open(path, max_db_bytes=max_db_bytes)
        try:
            store = await cls.over(database, caps, clock_ms=clock_ms)
        except BaseException:
            await database.close()
            raise
        store._owns = True
        return store

    @property
    def writer(self) -> GroupCommitWriter:
        """The database's one writer (its last_error and batches feed /api/status)."""
        return self.database.writer

    async def close(self) -> None:
        """Close the database if this store opened it."""
        if self._owns:
            await self.database.close()

    @traced("sale.commit")
    async def record(self, new: NewSale) -> Recorded:
        """Commit one sale, or find the one stored under its reference; raise SaleRefused/StoreUnavailable."""
        traceparent = current_traceparent()  # kept with the sale: the sync batch span links to it
        if traceparent is not None:
            new = replace(new, trace_context=traceparent)
        outcome: Recorded = await self.writer.submit("sale", new)
        annotate({"mpac.sale.seq": outcome.sale.seq, "mpac.sale.created": outcome.created})
        return outcome

    async def pending(self) -> PendingState:
        """What is stored and not yet acknowledged (for cap pre-checks and the status page)."""
        return await read_pending(self.database.reader)

    async def get(self, local_id: str) -> Sale | None:
        """One sale by local_id."""
        return await self._one(f"SELECT {SALE_COLUMNS} FROM sales WHERE local_id = ?", local_id)  # noqa: S608

    async def get_by_ref(self, merchant_ref_id: str) -> Sale | None:
        """One sale by merchant_ref_id."""
        return await self._one(f"SELECT {SALE_COLUMNS} FROM sales WHERE merchant_ref_id = ?",  # noqa: S608
                               merchant_ref_id)

    async def _one(self, sql: str, arg: str) -> Sale | None:
        async with self.database.reader.execute(sql, (arg,)) as cur:
            row = await cur.fetchone()
        return sale_from_row(row) if row else None

    async def list(self, flt: SaleFilter) -> tuple[list[Sale], bool]:
        """Sales newest first (by seq) with filters; returns (page, has_more)."""
        where: list[str] = []
        args: list[str | int] = []
        for column, value in (("sync_state", flt.sync_state), ("status", flt.status),
                              ("payment_method_type", flt.payment_method_type)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if flt.created_gte is not None:
            where.append("created_at >= ?")
            args.append(flt.created_gte)
        if flt.created_lte is not None:
            where.append("created_at <= ?")
            args.append(flt.created_lte)
        if flt.starting_after is not None:
            cursor = await self.get(flt.starting_after)
            if cursor is None:
                raise SaleRefused("unknown_cursor", "starting_after is not a known sale",
                                  param="starting_after",
                                  status=400)
            where.append("seq < ?")
            args.append(cursor.seq)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        sql = f"SELECT {SALE_COLUMNS} FROM sales {clause} ORDER BY seq DESC LIMIT ?"  # noqa: S608
        async with self.database.reader.execute(sql, (*args, flt.limit + 1)) as cur:
            rows = await cur.fetchall()
        sales = [sale_from_row(r) for r in rows]
        return sales[: flt.limit], len(sales) > flt.limit

    async def status(self) -> dict[str, Any]:
        """Counts per sync_state, last sync time and the newest seq, for /api/status."""
        sql = ("SELECT sync_state, COUNT(*) FROM sales GROUP BY sync_state UNION ALL "
               "SELECT 'last_synced_at', MAX(synced_at) FROM sales WHERE synced_at IS NOT NULL UNION ALL "
               "SELECT 'last_seq', MAX(seq) FROM (SELECT seq FROM sales UNION ALL SELECT seq FROM refunds)")
        async with self.database.reader.execute(sql) as cur:
            rows = {r[0]: r[1] for r in await cur.fetchall()}
        states = {s: int(rows.get(s) or 0) for s in ("queued", "sending", "acked", "rejected", "expired")}
        return {"by_sync_state": states, "last_synced_at": rows.get("last_synced_at"),
                "last_seq": rows.get("last_seq") or 0}

    async def expire_stale(self, max_age_ms: int) -> int:
        """Mark queued sales older than the max age `expired` (kept, never deleted); return how many."""
        cutoff = self.clock_ms() - max_age_ms
        reason = json.dumps({"code": "expired",
                             "message": "not sent to the cloud within the offline max age"})

        def _expire(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "UPDATE sales SET sync_state = 'expired', sync_error = ? "
                "WHERE sync_state = 'queued' AND created_at < ?", (reason, cutoff))
            return cur.rowcount

        return await self.database.writer.run(_expire)
