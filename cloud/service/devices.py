"""Device enrollment (docs/cloud-api.md): activation codes, activation, suspension."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from cloud.domain import ids
from cloud.domain.devices import (
    CODE_ALPHABET,
    CODE_LENGTH,
    CODE_TTL_SECONDS,
    ActivateDevice,
    ActivationCode,
    ActivationCodeExpired,
    ActivationCodeUsed,
    Device,
    DeviceRepository,
    DeviceStatus,
    IssueActivationCode,
    SuspendDevice,
    normalize_code,
)
from cloud.domain.errors import NotFound
from cloud.domain.ports import Clock, TenantRepository
from cloud.domain.sync import Anomaly, DeviceSyncState, SyncRepository
from cloud.domain.tenants import (
    Credential,
    CredentialKind,
    CredentialSecrets,
    SecretRotated,
    SecretSlot,
    Store,
)
from cloud.domain.webhooks import Event, EventType
from cloud.service.tenants import RotatedSecret, rotate
from cloud.service.webhooks import make_event
from sync.signing import secret_key_hash


def hash_code(code: str) -> str:
    """Hex SHA-256 of the normalized code: the only form stored."""
    return hashlib.sha256(normalize_code(code).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedCode:
    """The plain code (shown once) and what it enrolls into."""

    code: str
    store: Store
    expires_at: float


@dataclass(frozen=True, slots=True)
class Enrollment:
    """A new device and the only copy of its secret key."""

    device: Device
    api_key: str
    secret_key: str


async def issue_activation_code(
    cmd: IssueActivationCode, *, devices: DeviceRepository, tenants: TenantRepository, clock: Clock
) -> IssuedCode:
    """12 characters from an unambiguous alphabet (secrets), valid 24 h, single use, stored hashed."""
    store = await tenants.get_store(cmd.store_id)
    if store is None:
        raise NotFound(f"no store {cmd.store_id}", param="store")
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    now = clock()
    await devices.add_code(ActivationCode(hash_code(code), store.id, now, now + CODE_TTL_SECONDS))
    return IssuedCode(code, store, now + CODE_TTL_SECONDS)


async def activate_device(
    cmd: ActivateDevice, *, devices: DeviceRepository, tenants: TenantRepository, clock: Clock
) -> Enrollment:
    """Redeem a code: unknown -> NotFound, used -> ActivationCodeUsed, expired -> ActivationCodeExpired."""
    code_hash = hash_code(cmd.code)
    code = await devices.get_code(code_hash)
    if code is None:
        raise NotFound("unknown activation code", code="activation_code_not_found", param="code")
    if code.used_at is not None:
        raise ActivationCodeUsed("this activation code was already used", param="code")
    now = clock()
    if now >= code.expires_at:
        raise ActivationCodeExpired("this activation code has expired; ask for a new one", param="code")
    store = await tenants.get_store(code.store_id)
    if store is None:
        raise NotFound("the code's store no longer exists", param="code")
    api_key, secret = "pk_dev_" + secrets.token_hex(16), "sk_dev_" + secrets.token_urlsafe(32)
    device = Device(ids.new_id(ids.DEVICE), store.partner_id, store.merchant_id, store.id, api_key,
                    cmd.serial_number, cmd.model, DeviceStatus.ACTIVE, now)  # fmt: skip
    credential = Credential(api_key, secret_key_hash(secret), CredentialKind.DEVICE, store.partner_id,
                            store.merchant_id, store.id, device.id)  # fmt: skip
    await devices.enroll(device, credential, code_hash, activated_event(device))
    return Enrollment(device, api_key, secret)


def activated_event(d: Device) -> Event:
    """The device.activated webhook event, written with the enrollment (docs/cloud-api.md#webhooks)."""
    obj = {"object": "device", "device_id": d.id, "store_id": d.store_id, "merchant_id": d.merchant_id,
           "serial_number": d.serial_number, "model": d.model, "status": d.status.value,
           "activated_at": int(d.created_at)}  # fmt: skip
    return make_event(EventType.DEVICE_ACTIVATED, d.partner_id, d.created_at, obj)


async def suspend_device(cmd: SuspendDevice, *, devices: DeviceRepository, clock: Clock) -> Device:
    """Suspend a device: its key is refused with 403 from the next request on."""
    await devices.suspend(cmd.device_id, clock())
    device = await devices.get(cmd.device_id)
    if device is None:
        raise NotFound(f"no device {cmd.device_id}", param="device")
    return device


DEVICE_OLD_SECRET_SECONDS = 7 * 24 * 3600  # how long a device's replaced secret still works


async def rotate_device_secret(device_id: str, caller: Credential, *, secrets: CredentialSecrets,
                               now: float) -> RotatedSecret:  # fmt: skip
    """The device's own new secret (docs/cloud-api.md#rotating-a-device-secret). Signed with the current
    secret: a new one, kept sealed until first used. Signed with the previous one (the answer was lost, or
    another attempt won a race): that same unconfirmed new secret again. Once the new one has been used, the
    old one can only authenticate other calls until it expires: SecretRotated (409)."""
    if caller.device_id is None or caller.device_id != device_id:
        raise NotFound("no such device", param="id")
    if caller.signed_with is SecretSlot.CURRENT:
        try:
            return await rotate(caller, DEVICE_OLD_SECRET_SECONDS, secrets=secrets, now=now, prefix="sk_dev_",
                                keep_sealed=True)  # fmt: skip
        except SecretRotated:
            pass  # a concurrent attempt rotated first (our cached view was stale): answer its secret
    signed = caller.secret_key_hash if caller.signed_with is SecretSlot.CURRENT else caller.previous_key_hash
    issued = await secrets.issued_secret(caller.api_key, signed or "")
    if issued is None:
        raise SecretRotated("this secret was already replaced and the new one used; sign with the new one",
                            param="id")  # fmt: skip
    return RotatedSecret(caller.api_key, issued[0], issued[1])


@dataclass(frozen=True, slots=True)
class DeviceView:
    """A device with its sync state and latest anomalies (what `admin device show` and the API expose)."""

    device: Device
    state: DeviceSyncState
    anomalies: list[Anomaly]


async def device_view(
    device_id: str, caller: Credential | None, *, devices: DeviceRepository, sync: SyncRepository,
    anomalies: int = 20,
) -> DeviceView:  # fmt: skip
    """The device if the caller may see it (its partner / merchant / store, or itself; None = admin)."""
    device = await devices.get(device_id)
    if device is None or (caller is not None and not _may_see(caller, device)):
        raise NotFound("no such device", param="id")
    return DeviceView(device, await sync.state(device.id), await sync.anomalies(device.id, anomalies))


def _may_see(caller: Credential, device: Device) -> bool:
    scope = ((caller.merchant_id, device.merchant_id), (caller.store_id, device.store_id),
             (caller.device_id, device.id))  # fmt: skip
    return caller.partner_id == device.partner_id and all(mine in (None, theirs) for mine, theirs in scope)


def view_json(view: DeviceView) -> dict[str, Any]:
    """The JSON of a device and its sync state."""
    d, s = view.device, view.state
    return {
        "device_id": d.id, "store_id": d.store_id, "merchant_id": d.merchant_id,
        "serial_number": d.serial_number, "model": d.model, "status": d.status.value,
        "sync": {"last_seq": s.last_seq, "last_hash": s.last_hash, "chain_broken": s.chain_broken,
                 "seq_gaps": s.seq_gaps, "anomalies": s.anomalies, "clock_offset_ms": s.clock_offset_ms,
                 "last_batch_id": s.last_batch_id,
                 "last_batch_at": None if s.last_batch_at is None else int(s.last_batch_at),
                 "accepted_total": s.accepted_total},
        "anomalies": [{"kind": a.kind, "local_id": a.local_id, "seq": a.seq, "detail": a.detail}
                      for a in view.anomalies],
    }  # fmt: skip
