"""DeviceRepository on PostgreSQL: devices, their HMAC credentials (credentials table), activation codes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cloud.domain.devices import ActivationCode, ActivationCodeUsed, Device, DeviceStatus
from cloud.domain.errors import NotFound
from cloud.domain.tenants import Credential
from cloud.domain.webhooks import Event
from cloud.infrastructure.postgres.db import Op, PgDatabase
from cloud.infrastructure.postgres.tenants import credential_op
from cloud.infrastructure.postgres.webhooks import to_op
from cloud.infrastructure.sqlite.intents import ms
from cloud.infrastructure.sqlite.webhooks import event_stmts

_DEVICE_COLS = ("id, partner_id, merchant_id, store_id, api_key, serial_number, model, status, created_at, "
                "suspended_at")  # fmt: skip


def _s(value: int | None) -> float | None:
    return None if value is None else value / 1000


def _device(r: Any) -> Device:
    return Device(r[0], r[1], r[2], r[3], r[4], r[5], r[6], DeviceStatus(r[7]), r[8] / 1000, _s(r[9]))


class PgDeviceRepository:
    """Devices and activation codes; a device's key lives in `credentials` (kind 'device')."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    async def add_code(self, code: ActivationCode) -> None:
        """Insert a code (its hash only)."""
        await self._db.write([Op(
            "INSERT INTO activation_codes (code_hash, store_id, created_at, expires_at) "
            "VALUES ($1, $2, $3, $4)",
            (code.code_hash, code.store_id, ms(code.created_at), ms(code.expires_at)),
        )])  # fmt: skip

    async def get_code(self, code_hash: str) -> ActivationCode | None:
        """The code by hash, or None."""
        r = await self._db.fetch_one(
            "SELECT code_hash, store_id, created_at, expires_at, used_at, device_id FROM activation_codes "
            "WHERE code_hash=$1", (code_hash,))  # fmt: skip
        if r is None:
            return None
        return ActivationCode(r[0], r[1], r[2] / 1000, r[3] / 1000, _s(r[4]), r[5])

    async def enroll(
        self, device: Device, credential: Credential, code_hash: str, event: Event | None = None
    ) -> None:
        """Credential, device, the code's one use and the device.activated outbox rows in one transaction;
        the guarded UPDATE decides a race (of two workers redeeming one code, the second waits on the row
        and then updates nothing)."""
        d = device
        used = ActivationCodeUsed("this activation code was already used", param="code")
        await self._db.write([
            credential_op(credential, d.created_at),
            Op(f"INSERT INTO devices ({_DEVICE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL)",  # noqa: S608
               (d.id, d.partner_id, d.merchant_id, d.store_id, d.api_key, d.serial_number, d.model,
                d.status.value, ms(d.created_at))),
            Op("UPDATE activation_codes SET used_at=$1, device_id=$2 WHERE code_hash=$3 AND used_at IS NULL",
               (ms(d.created_at), d.id, code_hash), expect_one=True, on_stale=lambda _err: used),
            *(to_op(s) for s in (event_stmts(event) if event is not None else ())),
        ])  # fmt: skip

    async def get(self, device_id: str) -> Device | None:
        """The device, or None."""
        r = await self._db.fetch_one(f"SELECT {_DEVICE_COLS} FROM devices WHERE id=$1", (device_id,))  # noqa: S608
        return None if r is None else _device(r)

    async def list(self, store_id: str | None) -> Sequence[Device]:
        """Devices (of one store when given), oldest first."""
        rows = await self._db.fetch_all(
            f"SELECT {_DEVICE_COLS} FROM devices WHERE $1::text IS NULL OR store_id=$1 "  # noqa: S608
            "ORDER BY created_at, id", (store_id,))  # fmt: skip
        return [_device(r) for r in rows]

    async def suspend(self, device_id: str, now: float) -> None:
        """Device suspended and its credential inactive, in one transaction (NotFound if no such device)."""
        missing = NotFound(f"no device {device_id}", param="device")
        await self._db.write([
            Op("UPDATE devices SET status='suspended', suspended_at=coalesce(suspended_at, $1) WHERE id=$2",
               (ms(now), device_id), expect_one=True, on_stale=lambda _err: missing),
            Op("UPDATE credentials SET active=0 WHERE device_id=$1 AND kind='device'", (device_id,)),
        ])  # fmt: skip
