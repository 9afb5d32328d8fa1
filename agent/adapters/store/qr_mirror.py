"""The qr_sales table: the agent's local mirror of its QR intents on the cloud (outside the offline chain)."""

from __future__ import annotations

import sqlite3
from dataclasses import astuple
from typing import Literal

from agent.adapters.store.database import AgentDatabase
from agent.domain.qr_sale import TERMINAL, QrSale

_COLUMNS = ("local_id, merchant_ref_id, created_at, updated_at, amount, currency, cloud_intent_id, status, "
            "qr_content, metadata_json, payment_method, failure_code, receipt_json, provider")
_INSERT = f"INSERT INTO qr_sales ({_COLUMNS}) VALUES ({', '.join('?' * 14)})"  # noqa: S608 -- fixed columns
_FINAL = ", ".join(f"'{s}'" for s in TERMINAL)
_SET_STATUS = (
    "UPDATE qr_sales SET status = ?, failure_code = COALESCE(?, failure_code), updated_at = ?, "  # noqa: S608
    "provider = COALESCE(provider, ?) "
    f"WHERE local_id = ? AND status <> ? AND status NOT IN ({_FINAL})")  # constants only


class QrMirror:
    """Reads through the database's reader, writes through its one writer."""

    def __init__(self, database: AgentDatabase) -> None:
        self._db = database

    async def add(self, sale: QrSale) -> None:
        """Store a new QR sale (committed)."""
        values = astuple(sale)
        await self._db.writer.run(lambda conn: conn.execute(_INSERT, values))

    async def find(self, by: Literal["local_id", "merchant_ref_id"], value: str) -> QrSale | None:
        """One QR sale by local_id or by merchant_ref_id."""
        column = "local_id" if by == "local_id" else "merchant_ref_id"
        row = await self._db.fetch_one(
            f"SELECT {_COLUMNS} FROM qr_sales WHERE {column} = ?", (value,))  # noqa: S608 -- fixed names
        return _sale(row) if row is not None else None

    async def set_status(self, local_id: str, status: str, failure_code: str | None, now: int,
                         provider: str | None = None) -> bool:
        """Move a sale that is not final to `status` (committed, with the intent's provider once known);
        False if nothing changed."""
        args = (status, failure_code, now, provider, local_id, status)
        return await self._db.writer.run(lambda conn: conn.execute(_SET_STATUS, args).rowcount > 0)


def _sale(row: sqlite3.Row) -> QrSale:
    return QrSale(*tuple(row))
