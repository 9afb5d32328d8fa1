"""Commands: what a caller asks the service layer to do (imperative, frozen)."""

from __future__ import annotations

from dataclasses import dataclass, field

from cloud.domain.card_data import refuse_card_numbers
from cloud.domain.intent import CaptureMethod, MethodType, ProcessingMode, Status


@dataclass(frozen=True, slots=True)
class CreatePaymentIntent:
    """Create an intent in one store of the caller's tenants."""

    amount: int
    currency: str
    payment_method_types: tuple[MethodType, ...]
    merchant_ref_id: str
    processing_mode: ProcessingMode | None = None
    capture_method: CaptureMethod = CaptureMethod.AUTOMATIC
    merchant_store_id: str | None = None
    merchant_id: str | None = None
    merchant_terminal_id: str | None = None
    order_id: str | None = None
    description: str | None = None
    expires_in_minutes: int = 30
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        refuse_card_numbers({"description": self.description, "metadata": self.metadata})


@dataclass(frozen=True, slots=True)
class CardResult:
    """What an external card app reports back."""

    status: str
    approval_code: str | None = None
    card_brand: str | None = None
    card_last_4: str | None = None
    entry_method: str | None = None

    def __post_init__(self) -> None:
        refuse_card_numbers({"card_result.approval_code": self.approval_code,
                             "card_result.card_brand": self.card_brand,
                             "card_result.entry_method": self.entry_method})  # fmt: skip


@dataclass(frozen=True, slots=True)
class ConfirmPaymentIntent:
    """Confirm with a method: QR MPM, QR CPM (customer_code), card (card_result) or cash (cash_received)."""

    intent_id: str
    payment_method_type: MethodType | None = None
    customer_code: str | None = None
    card_result: CardResult | None = None
    cash_received: int | None = None


@dataclass(frozen=True, slots=True)
class CancelPaymentIntent:
    """Cancel an intent that no money has moved for yet."""

    intent_id: str
    cancellation_reason: str = "requested_by_customer"


@dataclass(frozen=True, slots=True)
class CapturePaymentIntent:
    """Capture a manual-capture intent waiting in requires_capture."""

    intent_id: str


@dataclass(frozen=True, slots=True)
class SyncPaymentIntent:
    """Re-read the provider's status for an intent and apply it."""

    intent_id: str


@dataclass(frozen=True, slots=True)
class ListPaymentIntents:
    """One page of intents visible to the caller, newest first."""

    limit: int = 10
    starting_after: str | None = None
    status: Status | None = None
    merchant_store_id: str | None = None
    created_gte: int | None = None
    created_lte: int | None = None


@dataclass(frozen=True, slots=True)
class CreateClientPartner:
    """Register a partner with an HMAC key pair (random when not given)."""

    name: str
    api_key: str | None = None
    secret_key: str | None = None


@dataclass(frozen=True, slots=True)
class CreateMerchant:
    """Register a merchant under a partner."""

    partner_id: str
    name: str


@dataclass(frozen=True, slots=True)
class CreateStore:
    """Register a store under a merchant; `code` is its merchant_store_id."""

    merchant_id: str
    code: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class SetProviderConfig:
    """Store (encrypted) provider credentials for a store."""

    store_id: str
    provider: str
    credentials: dict[str, str]
