"""Ports of the QR providers (docs/providers.md): what a provider adapter offers the service layer, and what
an inbound provider webhook becomes once verified (typing.Protocol and frozen dataclasses only)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from cloud.domain.intent import PaymentIntent
from cloud.domain.tenants import StoreProviderConfig


class ProviderStatus(StrEnum):
    """What a QR provider says about one code or payment."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ProviderResult:
    """A provider's answer: its reference, the status, and the QR content for MPM."""

    reference: str
    status: ProviderStatus
    qr_content: str | None = None
    failure_code: str | None = None


class QRProvider(Protocol):
    """A QR payment provider (PayPay-shaped): MPM codes, CPM charges, status reads."""

    name: str

    async def create_mpm(self, intent: PaymentIntent, config: StoreProviderConfig | None) -> ProviderResult:
        """Issue a merchant-presented code the customer scans."""

    async def charge_cpm(
        self, intent: PaymentIntent, customer_code: str, config: StoreProviderConfig | None
    ) -> ProviderResult:
        """Charge a customer-presented code the merchant scanned."""

    async def status(self, reference: str, config: StoreProviderConfig | None) -> ProviderResult:
        """Re-read the provider's status of a code or payment."""

    async def cancel(self, reference: str, config: StoreProviderConfig | None) -> None:
        """Withdraw an unpaid code or an undecided payment (idempotent: an unknown one is already gone)."""

    async def refund(
        self, reference: str, refund: RefundRequest, config: StoreProviderConfig | None
    ) -> ProviderResult:
        """Refund (part of) a paid payment; the result's reference is the refund's (docs/providers.md). A
        repeat with the same refund id must be the same refund (an unknown outcome is asked again)."""

    def check_credentials(self, credentials: Mapping[str, str]) -> None:
        """ValidationFailed when a StoreProviderConfig's credentials do not have this provider's shape."""


@dataclass(frozen=True, slots=True)
class RefundRequest:
    """One refund of a payment: its id (the idempotency key at the provider), amount and reason."""

    refund_id: str
    amount: int
    currency: str
    reason: str | None = None


class ProviderRegistry(Protocol):
    """Providers by name."""

    def get(self, name: str) -> QRProvider | None:
        """The provider, or None."""

    def names(self) -> list[str]:
        """Registered provider names, sorted."""

    @property
    def default(self) -> str:
        """The provider used when a store has no config."""


@dataclass(frozen=True, slots=True)
class InboundWebhook:
    """A webhook a provider POSTed: the path it was sent to, its headers and raw body (docs/cloud-api.md)."""

    path: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """A verified provider event: which intent, the provider's reference (if told) and what it says."""

    intent_id: str
    reference: str | None
    result: ProviderResult


class WebhookSource(Protocol):
    """One provider's inbound webhooks: which intent a body claims to be about, and its own verification."""

    def intent_of(self, body: bytes) -> str | None:
        """The intent id the (not yet verified) body names, or None if it names none."""

    def read(
        self, webhook: InboundWebhook, config: StoreProviderConfig | None, now: float
    ) -> ProviderEvent | None:
        """The event if its signature holds under the store's config, else None."""
