"""Tenants (ClientPartner -> Merchant -> Store -> StoreProviderConfig) and credentials acting for them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

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
