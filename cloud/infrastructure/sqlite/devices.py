"""DeviceRepository on SQLite: devices, their HMAC credentials (credentials table) and activation codes."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from cloud.domain.devices import ActivationCode, ActivationCodeUsed, Device, DeviceStatus
from cloud.domain.errors import NotFound
from cloud.domain.tenants import Credential
from cloud.domain.webhooks import Event
from cloud.infrastructure.sqlite.db import Database, StaleWrite, Stmt
from cloud.infrastructure.sqlite.intents import ms
from cloud.infrastructure.sqlite.tenants import credential_stmt
from cloud.infrastructure.sqlite.webhooks import event_stmts

_DEVICE_COLS = ("id, partner_id, merchant_id, store_id, api_key, serial_number, model, status, created_at, "
                "suspended_at")  # fmt: skip


def _s(value: int | None) -> float | None:
    return None if value is None else value / 1000


def _device(r: sqlite3.Row) -> Device:
    return Device(
        r["id"], r["partner_id"], r["merchant_id"], r["store_id"], r["api_key"], r["serial_number"],
        r["model"], DeviceStatus(r["status"]), r["created_at"] / 1000, _s(r["suspended_at"]),
    )  # fmt: skip


class SqliteDeviceRepository:
    """Devices and activation codes; a device's key lives in `credentials` (kind 'device')."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add_code(self, code: ActivationCode) -> None:
        """Insert a code (its hash only)."""
        await self._db.write([Stmt(
            "INSERT INTO activation_codes (code_hash, store_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
            (code.code_hash, code.store_id, ms(code.created_at), ms(code.expires_at)),
        )])  # fmt: skip

    async def get_code(self, code_hash: str) -> ActivationCode | None:
        """The code by hash, or None."""
        r = await self._db.fetch_one("SELECT * FROM activation_codes WHERE code_hash=?", (code_hash,))
        if r is None:
            return None
        return ActivationCode(r["code_hash"], r["store_id"], r["created_at"] / 1000, r["expires_at"] / 1000,
                              _s(r["used_at"]), r["device_id"])  # fmt: skip

    async def enroll(
        self, device: Device, credential: Credential, code_hash: str, event: Event | None = None
    ) -> None:
        """Credential, device, the code's one use and the device.activated outbox rows in one unit; the
        guarded UPDATE decides a race (the loser's event is rolled back with it)."""
        d = device
        stmts = [
            credential_stmt(credential, d.created_at),
            Stmt(f"INSERT INTO devices ({_DEVICE_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",  # noqa: S608
                 (d.id, d.partner_id, d.merchant_id, d.store_id, d.api_key, d.serial_number, d.model,
                  d.status.value, ms(d.created_at))),
            Stmt("UPDATE activation_codes SET used_at=?, device_id=? WHERE code_hash=? AND used_at IS NULL",
                 (ms(d.created_at), d.id, code_hash), expect_one=True),
            *(event_stmts(event) if event is not None else ()),
        ]  # fmt: skip
        try:
            await self._db.write(stmts)
        except StaleWrite as err:
            raise ActivationCodeUsed("this activation code was already used", param="code") from err

    async def get(self, device_id: str) -> Device | None:
        """The device, or None."""
        r = await self._db.fetch_one(f"SELECT {_DEVICE_COLS} FROM devices WHERE id=?", (device_id,))  # noqa: S608
        return None if r is None else _device(r)

    async def list(self, store_id: str | None) -> Sequence[Device]:
        """Devices (of one store when given), oldest first."""
        rows = await self._db.fetch_all(
            f"SELECT {_DEVICE_COLS} FROM devices WHERE ?1 IS NULL OR store_id=?1 "  # noqa: S608 — constants
            "ORDER BY created_at, id", (store_id,))  # fmt: skip
        return [_device(r) for r in rows]

    async def suspend(self, device_id: str, now: float) -> None:
        """Device suspended and its credential inactive, in one unit (NotFound if no such device)."""
        try:
            await self._db.write([
                Stmt("UPDATE devices SET status='suspended', suspended_at=coalesce(suspended_at, ?) "
                     "WHERE id=?", (ms(now), device_id), expect_one=True),
                Stmt("UPDATE credentials SET active=0 WHERE device_id=? AND kind='device'", (device_id,)),
            ])  # fmt: skip
        except StaleWrite as err:
            raise NotFound(f"no device {device_id}", param="device") from err
