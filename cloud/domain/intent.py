"""PaymentIntent, its state machine (docs/cloud-api.md) and the Transaction written for every transition."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cloud.domain.errors import InvalidState, ValidationFailed
from cloud.domain.ids import TRANSACTION, new_id


class Status(StrEnum):
    """The states of a PaymentIntent."""

    REQUIRES_PAYMENT_METHOD = "requires_payment_method"
    REQUIRES_ACTION = "requires_action"
    PROCESSING = "processing"
    REQUIRES_CAPTURE = "requires_capture"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ProcessingMode(StrEnum):
    """Who moves the money: the gateway's QR provider, an external card app, or staff (cash)."""

    PGW_PROCESSED = "pgw_processed"
    EXTERNAL = "external"
    MANUAL = "manual"


class MethodType(StrEnum):
    """Payment method types and the processing mode each implies."""

    QR_MPM = "qr_mpm"
    QR_CPM = "qr_cpm"
    CARD = "card"
    EMONEY = "emoney"
    CASH = "cash"


class CaptureMethod(StrEnum):
    """automatic: success settles at once; manual: success stops in requires_capture."""

    AUTOMATIC = "automatic"
    MANUAL = "manual"


MODE_OF: dict[MethodType, ProcessingMode] = {
    MethodType.QR_MPM: ProcessingMode.PGW_PROCESSED,
    MethodType.QR_CPM: ProcessingMode.PGW_PROCESSED,
    MethodType.CARD: ProcessingMode.EXTERNAL,
    MethodType.EMONEY: ProcessingMode.EXTERNAL,
    MethodType.CASH: ProcessingMode.MANUAL,
}

S = Status
# rpm -> processing directly is allowed for CPM, card and cash, where no customer action is pending.
EDGES: frozenset[tuple[Status, Status]] = frozenset(
    {
        (S.REQUIRES_PAYMENT_METHOD, S.REQUIRES_ACTION),
        (S.REQUIRES_PAYMENT_METHOD, S.PROCESSING),
        (S.REQUIRES_PAYMENT_METHOD, S.FAILED),
        (S.REQUIRES_PAYMENT_METHOD, S.CANCELLED),
        (S.REQUIRES_ACTION, S.PROCESSING),
        (S.REQUIRES_ACTION, S.FAILED),
        (S.REQUIRES_ACTION, S.CANCELLED),
        (S.PROCESSING, S.SUCCEEDED),
        (S.PROCESSING, S.FAILED),
        (S.PROCESSING, S.REQUIRES_CAPTURE),
        (S.REQUIRES_CAPTURE, S.SUCCEEDED),
    }
)
TERMINAL: frozenset[Status] = frozenset({S.SUCCEEDED, S.FAILED, S.CANCELLED})
CANCELLABLE: frozenset[Status] = frozenset({S.REQUIRES_PAYMENT_METHOD, S.REQUIRES_ACTION})
# The provider may still decide these (docs/cloud-api.md, "Learning the provider's outcome").
AWAITING_PROVIDER: frozenset[Status] = frozenset({S.REQUIRES_ACTION, S.PROCESSING})
# Collected (or held for capture): never cancelled (docs/cloud-api.md#cancel-and-the-provider).
PAID: frozenset[Status] = frozenset({S.SUCCEEDED, S.REQUIRES_CAPTURE})


def can_transition(current: Status, target: Status) -> bool:
    """True if docs/cloud-api.md allows current -> target."""
    return (current, target) in EDGES


@dataclass(frozen=True, slots=True)
class Transaction:
    """One durable record per transition: who moved the intent from which state to which, and when."""

    id: str
    intent_id: str
    from_status: Status | None
    to_status: Status
    actor: str
    created_at: float
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class PaymentIntent:
    """A request to collect `amount` minor units of `currency` in one store."""

    id: str
    partner_id: str
    merchant_id: str
    store_id: str
    store_code: str
    amount: int
    currency: str
    payment_method_types: tuple[MethodType, ...]
    merchant_ref_id: str
    created_at: float
    expires_at: float
    status: Status = Status.REQUIRES_PAYMENT_METHOD
    payment_method_type: MethodType | None = None
    processing_mode: ProcessingMode | None = None
    capture_method: CaptureMethod = CaptureMethod.AUTOMATIC
    order_id: str | None = None
    merchant_terminal_id: str | None = None
    description: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    qr_content: str | None = None
    provider: str | None = None
    provider_ref: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    failure_code: str | None = None
    cancellation_reason: str | None = None
    updated_at: float = 0.0
    version: int = 0
    amount_refunded: int = 0  # refunded or reserved by a pending refund (docs/cloud-api.md#refunds)

    @property
    def is_terminal(self) -> bool:
        """True once nothing can leave the current state."""
        return self.status in TERMINAL

    @property
    def awaits_provider(self) -> bool:
        """A QR intent whose outcome the provider holds: its reference is issued and nothing is final yet."""
        return self.provider_ref is not None and self.status in AWAITING_PROVIDER

    def is_expired(self, now: float) -> bool:
        """An untouched intent past its expiry time."""
        return self.status is Status.REQUIRES_PAYMENT_METHOD and now >= self.expires_at

    def transition(
        self, target: Status, *, actor: str, now: float, reason: str | None = None, **changes: Any
    ) -> tuple[PaymentIntent, Transaction]:
        """Apply one edge, or raise InvalidState; returns the new intent and its Transaction."""
        if not can_transition(self.status, target):
            raise InvalidState(f"cannot move a payment intent from {self.status} to {target}")
        moved = dataclasses.replace(self, status=target, updated_at=now, **changes)
        txn = Transaction(new_id(TRANSACTION), self.id, self.status, target, actor, now, reason)
        return moved, txn

    def settle(self, *, actor: str, now: float, **changes: Any) -> tuple[PaymentIntent, Transaction]:
        """processing -> succeeded, or -> requires_capture for manual capture."""
        target = Status.REQUIRES_CAPTURE if self.capture_method is CaptureMethod.MANUAL else Status.SUCCEEDED
        return self.transition(target, actor=actor, now=now, **changes)


def creation_transaction(intent: PaymentIntent, actor: str) -> Transaction:
    """The first Transaction of an intent: from nothing to requires_payment_method."""
    return Transaction(
        new_id(TRANSACTION), intent.id, None, intent.status, actor, intent.created_at, "created"
    )


def resolve_method(
    types: tuple[MethodType, ...], chosen: MethodType | None, mode: ProcessingMode | None
) -> MethodType:
    """Pick the method for a confirm: the chosen one (must be allowed) or the only one allowed."""
    if chosen is None:
        if len(types) != 1:
            raise ValidationFailed(
                "payment_method_type is required when several types are allowed", param="payment_method_type"
            )
        chosen = types[0]
    if chosen not in types:
        raise ValidationFailed(f"{chosen} is not allowed for this intent", param="payment_method_type")
    if mode is not None and MODE_OF[chosen] is not mode:
        raise ValidationFailed(f"{chosen} does not fit processing_mode {mode}", param="processing_mode")
    return chosen
