"""QR MPM sales: created and confirmed on the cloud at once, mirrored locally, never queued offline."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from typing import Any

from uuid6 import uuid7

from agent.cloud import CloudClient
from agent.errors import AgentError, SaleRefused, UpstreamUnavailable
from agent.store import Store

TERMINAL = ("succeeded", "failed", "cancelled")
_COLUMNS = ("local_id, merchant_ref_id, created_at, updated_at, amount, currency, cloud_intent_id, status, "
            "qr_content, metadata_json")


def qr_to_json(row: sqlite3.Row) -> dict[str, Any]:
    """A qr_sales row as the local API shows it."""
    return {
        "object": "qr_sale", "local_id": row["local_id"], "payment_method": "qr_mpm",
        "processing_mode": "pgw_processed", "payment_method_type": "qr_mpm",
        "created_at": row["created_at"], "updated_at": row["updated_at"], "amount": row["amount"],
        "currency": row["currency"], "merchant_ref_id": row["merchant_ref_id"], "status": row["status"],
        "cloud_intent_id": row["cloud_intent_id"], "qr_content": row["qr_content"],
        "metadata": json.loads(row["metadata_json"]),
    }


class QrSales:
    """Creates QR MPM intents on the cloud with the device credential; `cloud` None means not enrolled."""

    def __init__(self, store: Store, cloud: CloudClient | None, terminal_id: str,
                 clock_ms: Callable[[], int]) -> None:
        self._store = store
        self._cloud = cloud
        self._terminal_id = terminal_id
        self._clock = clock_ms
        self._locks: dict[str, asyncio.Lock] = {}

    async def create(self, ref: str, amount: int, currency: str,
                     metadata: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Return (sale JSON, created). A retry with the same reference returns the first sale."""
        lock = self._locks.setdefault(ref, asyncio.Lock())
        async with lock:
            try:
                return await self._create_once(ref, amount, currency, metadata)
            finally:
                if not lock._waiters:
                    self._locks.pop(ref, None)

    async def _create_once(self, ref: str, amount: int, currency: str,
                           metadata: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        row = await self._row("merchant_ref_id", ref)
        if row is not None:
            if (row["amount"], row["currency"]) != (amount, currency):
                raise _reused(ref)
            return qr_to_json(row), False
        if await self._store.get_by_ref(ref) is not None:
            raise _reused(ref)
        if self._cloud is None:
            raise UpstreamUnavailable("not_enrolled", "QR payments need this terminal to be enrolled with "
                                      "the "
                                      "payment cloud. Take cash or card instead.")
        body = {"amount": amount, "currency": currency, "payment_method_type": "qr_mpm",
                "processing_mode": "pgw_processed", "merchant_ref_id": ref,
                "merchant_terminal_id": self._terminal_id, "metadata": metadata}
        intent = await self._cloud.request("POST", "/v1/payment_intents", body, f"{ref}:create")
        intent_id = str(intent.get("id", ""))
        if not intent_id.startswith("pi_"):
            raise UpstreamUnavailable("cloud_bad_answer",
                                      "The payment cloud gave an answer without an intent id.")
        confirmed = await self._cloud.request("POST", f"/v1/payment_intents/{intent_id}/confirm", {},
                                              f"{ref}:confirm")
        qr_content = confirmed.get("qr_content") or confirmed.get("qr_code_url")
        now = self._clock()
        values = (str(uuid7()), ref, now, now, amount, currency, intent_id, str(confirmed.get("status", "")),
                  qr_content if isinstance(qr_content, str) else None,
                  json.dumps(metadata, ensure_ascii=False))

        def _insert(conn: sqlite3.Connection) -> None:
            conn.execute(f"INSERT INTO qr_sales ({_COLUMNS}) VALUES ({', '.join('?' * 10)})",  # noqa: S608
                               values)

        await self._store.writer.run(_insert)
        stored = await self._row("local_id", values[0])
        assert stored is not None  # just committed
        return qr_to_json(stored), True

    async def has_ref(self, ref: str) -> bool:
        """Is this reference already used by a QR sale?"""
        return await self._row("merchant_ref_id", ref) is not None

    async def get(self, local_id: str) -> dict[str, Any] | None:
        """The QR sale, refreshed from the cloud while it is not final (stays as stored when offline)."""
        row = await self._row("local_id", local_id)
        if row is None:
            return None
        if self._cloud is not None and row["status"] not in TERMINAL:
            try:
                intent = await self._cloud.request("GET", f"/v1/payment_intents/{row['cloud_intent_id']}")
            except AgentError:
                return qr_to_json(row)
            status = str(intent.get("status", row["status"]))
            if status != row["status"]:
                await self._update_status(local_id, status)
                row = await self._row("local_id", local_id)
                assert row is not None
        return qr_to_json(row)

    async def _update_status(self, local_id: str, status: str) -> None:
        now = self._clock()

        def _update(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE qr_sales SET status = ?, updated_at = ? WHERE local_id = ?",
                               (status, now, local_id))

        await self._store.writer.run(_update)

    async def _row(self, column: str, value: str) -> sqlite3.Row | None:
        rows = list(await self._store.reader.execute_fetchall(
            f"SELECT {_COLUMNS} FROM qr_sales WHERE {column} = ?", (value,)))  # noqa: S608 -- fixed names
        return rows[0] if rows else None


def _reused(ref: str) -> SaleRefused:
    return SaleRefused("merchant_ref_id_reused", f"The reference {ref!r} already belongs to another sale. "
                       "Use a new reference for a new sale.", param="merchant_ref_id", status=409)
