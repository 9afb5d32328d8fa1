"""Tenants (ClientPartner -> Merchant -> Store -> StoreProviderConfig) and credentials acting for them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from cloud.domain.errors import Conflict
from cloud.domain.intent import PaymentIntent


@dataclass(frozen=True, slots=True)
class ClientPartner:
    """The top-level API client; owns merchants."""

    id: str
    name: str
    created_at: float


@dataclass(frozen=True, slots=True)
class Merchant:
    """A merchant of one partner; merchant_ref_id is unique per merchant."""

    id: str
    partner_id: str
    name: str
    created_at: float


@dataclass(frozen=True, slots=True)
class Store:
    """A store of one merchant; `code` is what requests call merchant_store_id."""

    id: str
    merchant_id: str
    partner_id: str
    code: str
    name: str
    created_at: float


@dataclass(frozen=True, slots=True)
class StoreProviderConfig:
    """Per-store provider credentials (held encrypted by storage; plain only in memory)."""

    id: str
    store_id: str
    provider: str
    credentials: dict[str, str]
    updated_at: float


class CredentialKind(StrEnum):
    """Who holds an HMAC key: a ClientPartner backend or an enrolled device."""

    PARTNER = "partner"
    DEVICE = "device"


class SecretSlot(StrEnum):
    """Which of a credential's two secrets signed a request."""

    CURRENT = "current"
    PREVIOUS = "previous"


@dataclass(frozen=True, slots=True)
class Credential:
    """An HMAC api_key resolved to its tenant scope; narrower scopes set merchant_id/store_id/device_id."""

    api_key: str
    secret_key_hash: str
    kind: CredentialKind
    partner_id: str
    merchant_id: str | None = None
    store_id: str | None = None
    device_id: str | None = None
    active: bool = True
    # Rotation overlap (docs/cloud-api.md#rotating-a-secret): the replaced secret's hash and its end.
    previous_key_hash: str | None = None
    previous_expires_at: float | None = None
    unconfirmed: bool = False  # a device's rotated secret not yet signed with (its sealed copy is kept)
    signed_with: SecretSlot = SecretSlot.CURRENT  # set by authentication for the request at hand

    def previous_live(self, now: float) -> str | None:
        """The previous secret's hash while it still authenticates, else None."""
        if self.previous_key_hash is None or self.previous_expires_at is None:
            return None
        return self.previous_key_hash if now < self.previous_expires_at else None

    @property
    def actor(self) -> str:
        """How Transactions name this caller."""
        return f"device:{self.device_id}" if self.device_id else f"partner:{self.partner_id}"

    def can_see(self, intent: PaymentIntent) -> bool:
        """Tenant isolation: same partner, and inside the merchant / store scope if the key has one."""
        if intent.partner_id != self.partner_id:
            return False
        if self.merchant_id is not None and intent.merchant_id != self.merchant_id:
            return False
        return self.store_id is None or intent.store_id == self.store_id


@dataclass(frozen=True, slots=True)
class TokenPrincipal:
    """A payment_token holder: may read, confirm and cancel exactly one intent."""

    intent_id: str
    merchant_id: str

    @property
    def actor(self) -> str:
        """How Transactions name this caller."""
        return "payment_token"

    def can_see(self, intent: PaymentIntent) -> bool:
        """Only the intent the token was minted for."""
        return intent.id == self.intent_id


Principal = Credential | TokenPrincipal


@dataclass(frozen=True, slots=True)
class Rotation:
    """Replace `expected_hash` (still the current secret) by `new_hash`; the old one lives until
    `previous_expires_at`. `issued_secret`: the new secret, kept sealed until first used (devices only)."""

    api_key: str
    expected_hash: str
    new_hash: str
    previous_expires_at: float
    at: float
    issued_secret: str | None = None


@dataclass(frozen=True, slots=True)
class SecretInfo:
    """One live or expired secret of a credential as `admin partner secrets` shows it (never the secret)."""

    api_key: str
    kind: CredentialKind
    slot: SecretSlot
    created_at: float | None  # None: a previous secret (its own creation is not kept)
    expires_at: float | None
    last_used_at: float | None
    device_id: str | None = None


@dataclass(frozen=True, slots=True)
class RotateSecret:
    """Give a partner's key a new secret; the old one keeps working for `old_expires_in` seconds."""

    partner_id: str
    old_expires_in: float
    api_key: str | None = None  # needed only when the partner has several keys


@dataclass(frozen=True, slots=True)
class RevokeSecret:
    """End a partner key's previous secret now."""

    partner_id: str
    api_key: str | None = None


class SecretRotated(Conflict):
    """The secret a rotation was asked with is no longer the current one."""

    code = "secret_already_rotated"


class CredentialSecrets(Protocol):
    """The two secrets of each credential: rotate, revoke, record use, list (docs/cloud-api.md)."""

    async def rotate(self, rotation: Rotation) -> None:
        """Apply atomically; SecretRotated if the current secret is no longer `expected_hash`."""

    async def issued_secret(self, api_key: str, previous_hash: str) -> tuple[str, float] | None:
        """The unconfirmed new secret that replaced `previous_hash` and that one's expiry, or None."""

    async def revoke_previous(self, api_key: str) -> bool:
        """Drop the previous secret now; False if there was none."""

    async def mark_used(self, credential: Credential, slot: SecretSlot, now: float) -> None:
        """Record a use (coarsely); a first use of the current secret confirms a rotation."""

    async def purge_expired(self, now: float, limit: int) -> None:
        """Forget up to `limit` previous secrets past their expiry (with a sealed copy never confirmed)."""

    async def list_secrets(self, partner_id: str, device_id: str | None, now: float) -> Sequence[SecretInfo]:
        """The live secrets of a partner's credentials (of one device when given)."""
