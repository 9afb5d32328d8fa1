"""Seed hash-chained sales into an agent database per the agreed `sales` columns (tests and benches).

The agent's own store records sales one request at a time (that is its job); seeding 100,000 queued sales
for a drain benchmark or a chaos run needs one executemany per chunk instead. Items are built exactly as the
agent builds them: canonical JSON of the item without its hash, hash = sha256(prev_hash + that JSON).
"""

from __future__ import annotations

import uuid
from typing import Any

import aiosqlite
from uuid6 import uuid7

from sync.wire import GENESIS_HASH, canonical_json, item_hash

_INSERT = ("INSERT INTO sales (local_id, seq, created_at, prev_hash, hash, item_json, amount, currency, "
           "processing_mode, payment_method_type, merchant_ref_id, status) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)")


async def chain_head(conn: aiosqlite.Connection) -> tuple[int, str]:
    """(last seq, last hash) of the device's chain, (0, genesis) when empty."""
    async with conn.execute("SELECT seq, hash FROM sales ORDER BY seq DESC LIMIT 1") as cur:
        row = await cur.fetchone()
    return (int(row[0]), str(row[1])) if row else (0, GENESIS_HASH)


def sale_row(seq: int, prev_hash: str, created_at: int, ref: str, amount: int) -> tuple[Any, ...]:
    """One `sales` row: a succeeded cash sale, chained on prev_hash."""
    local_id = str(uuid.UUID(str(uuid7())))
    item = {"local_id": local_id, "seq": seq, "created_at": created_at, "prev_hash": prev_hash,
            "intent": {"amount": amount, "currency": "JPY", "processing_mode": "manual",
                       "payment_method_type": "cash", "merchant_ref_id": ref, "status": "succeeded",
                       "result": {"cash_received": amount, "change": 0}, "metadata": {"lane": 1}}}
    digest = item_hash(prev_hash, item)
    return (local_id, seq, created_at, prev_hash, digest, canonical_json(item).decode("utf-8"), amount, "JPY",
            "manual", "cash", ref, "succeeded")


async def seed_sales(conn: aiosqlite.Connection, n: int, *, prefix: str = "ref", created_at: int,
                     chunk: int = 5000) -> int:
    """Append n queued sales to the chain, committed per chunk; returns the last seq."""
    seq, prev = await chain_head(conn)
    for start in range(0, n, chunk):
        rows = []
        for i in range(start, min(n, start + chunk)):
            seq += 1
            row = sale_row(seq, prev, created_at + i, f"{prefix}-{i}", 100 + i % 9000)
            prev = row[4]
            rows.append(row)
        await conn.execute("BEGIN IMMEDIATE")
        await conn.executemany(_INSERT, rows)
        await conn.execute("COMMIT")
    return seq
