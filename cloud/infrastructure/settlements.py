"""SettlementRepository on SQLite and PostgreSQL (one implementation; cloud/infrastructure/dialect.py holds
what differs). (device_id, settlement_id) is the key and (device_id, z_number) is unique: a second report
under either is refused by the database, whoever wrote first (docs/cloud-api.md#settlements)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from cloud.domain.settlements import Settlement, canonical, conflict
from cloud.infrastructure.dialect import Dialect, Write

COLUMNS = ("device_id, settlement_id, partner_id, store_id, store_code, z_number, business_date, report, "
           "digest, received_at")  # fmt: skip
_INSERT = f"INSERT INTO settlements ({COLUMNS}) VALUES ({', '.join('?' * 10)})"  # noqa: S608 — constants


def _taken(err: Any) -> BaseException:
    return conflict(
        f"this device already stored another settlement under this id or z_number ({type(err).__name__})"
    )


def settlement_from_row(r: Any) -> Settlement:
    """A settlements row (COLUMNS, by name) as a Settlement."""
    return Settlement(r["settlement_id"], r["device_id"], r["partner_id"], r["store_id"], r["store_code"],
                      r["z_number"], r["business_date"], r["received_at"] / 1000, json.loads(r["report"]),
                      r["digest"])  # fmt: skip


class SqlSettlementRepository:
    """Settlement rows, the report kept as canonical JSON beside its SHA-256."""

    def __init__(self, dialect: Dialect) -> None:
        self._d = dialect

    async def add(self, settlement: Settlement) -> None:
        """Stage the row; Conflict settlement_conflict at commit if the key or the z_number is taken."""
        s = settlement
        row = (s.device_id, s.settlement_id, s.partner_id, s.store_id, s.store_code, s.z_number,
               s.business_date, canonical(s.report), s.digest, round(s.received_at * 1000))  # fmt: skip
        self._d.stage([Write(_INSERT, row, on_integrity=_taken)])

    async def get(self, device_id: str, settlement_id: str) -> Settlement | None:
        """The device's settlement, or None."""
        rows = await self._d.rows(f"SELECT {COLUMNS} FROM settlements WHERE device_id = ? "  # noqa: S608
                                  "AND settlement_id = ?", (device_id, settlement_id))  # fmt: skip
        return settlement_from_row(rows[0]) if rows else None

    async def of_store(self, store_id: str, limit: int) -> tuple[Sequence[Settlement], bool]:
        """Newest received first (then by id), limit+1 rows read to know has_more."""
        rows = await self._d.rows(f"SELECT {COLUMNS} FROM settlements WHERE store_id = ? "  # noqa: S608
                                  "ORDER BY received_at DESC, settlement_id DESC LIMIT ?",
                                  (store_id, limit + 1))  # fmt: skip
        return [settlement_from_row(r) for r in rows[:limit]], len(rows) > limit
