"""Devices, activation codes and their commands, errors and ports (docs/cloud-api.md); pure, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from cloud.domain.errors import Conflict, DomainError
from cloud.domain.tenants import Credential
from cloud.domain.webhooks import Event

# Crockford-like: no 0/O, 1/I/L, no U; 31 symbols ** 12 ≈ 2^59 codes, typed by a technician.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"
CODE_LENGTH = 12
CODE_TTL_SECONDS = 24 * 3600


class DeviceStatus(StrEnum):
    """An enrolled device is active until an admin suspends it."""

    ACTIVE = "active"
    SUSPENDED = "suspended"


@dataclass(frozen=True, slots=True)
class Device:
    """An enrolled terminal of one store; its HMAC credential is `api_key`."""

    id: str
    partner_id: str
    merchant_id: str
    store_id: str
    api_key: str
    serial_number: str
    model: str
    status: DeviceStatus
    created_at: float
    suspended_at: float | None = None


@dataclass(frozen=True, slots=True)
class ActivationCode:
    """A single-use enrollment code as stored: its hash, store and life."""

    code_hash: str
    store_id: str
    created_at: float
    expires_at: float
    used_at: float | None = None
    device_id: str | None = None


@dataclass(frozen=True, slots=True)
class IssueActivationCode:
    """Mint a code a technician types into one terminal of this store."""

    store_id: str


@dataclass(frozen=True, slots=True)
class ActivateDevice:
    """Redeem a code for a device credential."""

    code: str
    serial_number: str
    model: str


@dataclass(frozen=True, slots=True)
class SuspendDevice:
    """Refuse a device's key from now on."""

    device_id: str


class ActivationCodeUsed(Conflict):
    """The code was already redeemed."""

    code = "activation_code_used"


class ActivationCodeExpired(DomainError):
    """The code is past its 24 h life (the API answers 410)."""

    code = "activation_code_expired"


def normalize_code(text: str) -> str:
    """What the technician typed -> the canonical code (case, spaces and dashes ignored)."""
    return "".join(ch for ch in text.upper() if ch not in " -")


class DeviceRepository(Protocol):
    """Devices, their credentials and activation codes."""

    async def add_code(self, code: ActivationCode) -> None:
        """Store a new code (hash only)."""

    async def get_code(self, code_hash: str) -> ActivationCode | None:
        """The code by hash, or None."""

    async def enroll(
        self, device: Device, credential: Credential, code_hash: str, event: Event | None = None
    ) -> None:
        """Credential + device + code marked used (+ its device.activated outbox event), atomically;
        ActivationCodeUsed if it lost a race."""

    async def get(self, device_id: str) -> Device | None:
        """The device, or None."""

    async def list(self, store_id: str | None) -> Sequence[Device]:
        """Devices (of one store when given), oldest first (administration)."""

    async def suspend(self, device_id: str, now: float) -> None:
        """Mark suspended and deactivate its credential, atomically."""
