"""The agent store: one writer connection (group commit) and one reader connection over the same WAL file."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from agent.adapters.store import db
from agent.adapters.store.chain import SALE_COLUMNS, ChainWriter, Recorded, read_pending, sale_from_row
from agent.adapters.store.writer import GroupCommitWriter
from agent.domain.caps import PendingState
from agent.domain.errors import SaleRefused
from agent.domain.sale import NewSale, Sale
from agent.settings import OfflineSection

log = logging.getLogger(__name__)
CHECKPOINT_POLL_S = 0.1
CHECKPOINT_IDLE_S = 0.2  # no commit for this long: the till is between customers
CHECKPOINT_MAX_WAIT_S = 10.0  # under steady load, checkpoint anyway this often
WRITER_AUTOCHECKPOINT_PAGES = 1000


def wall_clock_ms() -> int:
    """Unix time in milliseconds."""
    return time.time_ns() // 1_000_000


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
    """Open with `await Store.open(...)`, close with `await store.close()`."""

    def __init__(self, path: Path, writer_conn: aiosqlite.Connection, reader: aiosqlite.Connection,
                 chain: ChainWriter, clock_ms: Callable[[], int]) -> None:
        self.path = path
        self._wconn = writer_conn
        self.reader = reader
        self.chain = chain
        self.clock_ms = clock_ms
        self.writer = GroupCommitWriter(writer_conn)
        self._closed = False
        self.writer.register("sale", chain.handle, chain.on_commit)
        self._checkpointer: asyncio.Task[None] | None = None
        self._checkpoint_conn: aiosqlite.Connection | None = None

    @classmethod
    async def open(cls, path: Path, caps: OfflineSection, *, clock_ms: Callable[[], int] = wall_clock_ms,
                   max_db_bytes: int = 0) -> Store:
        """Create the folder, open both connections, migrate, load the chain head, start the writer."""
        path.parent.mkdir(parents=True, exist_ok=True)
        wconn = await db.connect(path, max_db_bytes=max_db_bytes)
        try:
            # Kept at SQLite's 1000 pages on purpose: a larger threshold lets the WAL file grow, and an
            # fsync that also grows the file cost p90 ~3.8 ms instead of ~1.2 ms per sale here. Between
            # customers _checkpoint_loop checkpoints in the background, so the inline one is rarely needed.
            await wconn.execute(f"PRAGMA wal_autocheckpoint = {WRITER_AUTOCHECKPOINT_PAGES}")
            await db.migrate(wconn)
            chain = ChainWriter(caps, clock_ms)
            await chain.load_head(wconn)
            reader = await db.connect(path, readonly=True)
        except BaseException:
            await wconn.close()
            raise
        store = cls(path, wconn, reader, chain, clock_ms)
        store.writer.start()
        store._checkpoint_conn = await db.connect(path)
        store._checkpointer = asyncio.create_task(store._checkpoint_loop(store._checkpoint_conn),
                                                  name="agent-store-checkpoint")
        return store

    async def _checkpoint_loop(self, conn: aiosqlite.Connection) -> None:
        """Copy the WAL into the database off the sale path, preferably between sales (a checkpoint's fsync
        of the database file delays a concurrent sale's WAL fsync); the writer's own is the last resort."""
        last = time.monotonic()
        while True:
            await asyncio.sleep(CHECKPOINT_POLL_S)
            now = time.monotonic()
            idle = now - self.writer.last_commit_at >= CHECKPOINT_IDLE_S
            if not (idle or now - last >= CHECKPOINT_MAX_WAIT_S) or self.writer.last_commit_at <= last:
                continue
            last = now
            try:
                await conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error as err:  # busy or read-only: try again next time
                log.debug("checkpoint skipped: %s", err)

    async def close(self) -> None:
        """Finish queued writes, then close both connections (a second call does nothing)."""
        if self._closed:
            return
        self._closed = True
        if self._checkpointer is not None:
            self._checkpointer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpointer
        if self._checkpoint_conn is not None:
            await self._checkpoint_conn.close()
        await self.writer.stop()
        await self.reader.close()
        await self._wconn.close()

    async def record(self, new: NewSale) -> Recorded:
        """Commit one sale, or find the one stored under its reference; raise SaleRefused/StoreUnavailable."""
        outcome: Recorded = await self.writer.submit("sale", new)
        return outcome

    async def pending(self) -> PendingState:
        """What is stored and not yet acknowledged (for cap pre-checks and the status page)."""
        return await read_pending(self.reader)

    async def get(self, local_id: str) -> Sale | None:
        """One sale by local_id."""
        return await self._one(f"SELECT {SALE_COLUMNS} FROM sales WHERE local_id = ?", local_id)  # noqa: S608

    async def get_by_ref(self, merchant_ref_id: str) -> Sale | None:
        """One sale by merchant_ref_id."""
        return await self._one(f"SELECT {SALE_COLUMNS} FROM sales WHERE merchant_ref_id = ?",  # noqa: S608
                               merchant_ref_id)

    async def _one(self, sql: str, arg: str) -> Sale | None:
        async with self.reader.execute(sql, (arg,)) as cur:
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
        async with self.reader.execute(sql, (*args, flt.limit + 1)) as cur:
            rows = await cur.fetchall()
        sales = [sale_from_row(r) for r in rows]
        return sales[: flt.limit], len(sales) > flt.limit

    async def status(self) -> dict[str, Any]:
        """Counts per sync_state, last sync time and the newest seq, for /api/status."""
        sql = ("SELECT sync_state, COUNT(*) FROM sales GROUP BY sync_state UNION ALL "
               "SELECT 'last_synced_at', MAX(synced_at) FROM sales WHERE synced_at IS NOT NULL UNION ALL "
               "SELECT 'last_seq', MAX(seq) FROM sales")
        async with self.reader.execute(sql) as cur:
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

        return await self.writer.run(_expire)
