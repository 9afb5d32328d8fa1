"""The PayPay-API simulator's memory: merchants, codes, payments, refunds, and injected faults.

CPM outcome by the scanned code (docs/providers.md#the-simulator): not 18 digits -> 400
INVALID_USER_AUTHORIZATION_ID; starting with 9 -> 400 INSUFFICIENT_BALANCE (recorded FAILED); starting with 8
-> 202 USER_CONFIRMATION_REQUIRED (CREATED until a hook settles it); any other 18 digits -> COMPLETED.
"""

from __future__ import annotations

import secrets
from collections import deque
from dataclasses import dataclass, field
from typing import Any

QR_BASE = "https://qr.paypay-sim.invalid/"
SETTLED = frozenset({"COMPLETED", "FAILED", "CANCELED", "EXPIRED", "REFUNDED"})


@dataclass(frozen=True, slots=True)
class Merchant:
    """An API key the simulator accepts: its secret and, optionally, the X-ASSUME-MERCHANT it requires."""

    api_key: str
    api_secret: str = field(repr=False)
    merchant_id: str | None = None


@dataclass(slots=True)
class Payment:
    """One MPM code's payment or one CPM payment, by merchantPaymentId."""

    merchant_payment_id: str
    kind: str  # "mpm" or "cpm"
    api_key: str
    amount: int
    currency: str
    requested_at: int
    status: str = "CREATED"
    payment_id: str = field(default_factory=lambda: str(secrets.randbelow(10**17) + 10**17))
    code_id: str | None = None
    expires_at: int | None = None
    accepted_at: int | None = None
    refunded: int = 0

    @property
    def url(self) -> str:
        """What the customer's phone would open (a reserved .invalid host: never a real one)."""
        return f"{QR_BASE}{self.code_id}"

    def code_data(self) -> dict[str, Any]:
        """The `data` of a create-a-code answer."""
        return {"codeId": self.code_id, "url": self.url, "deeplink": f"paypay://payment?link_key={self.code_id}",
                "expiryDate": self.expires_at, "merchantPaymentId": self.merchant_payment_id,
                "amount": {"amount": self.amount, "currency": self.currency}, "codeType": "ORDER_QR",
                "requestedAt": self.requested_at, "isAuthorization": False}  # fmt: skip

    def details(self) -> dict[str, Any]:
        """The `data` of a get-payment-details answer."""
        return {"paymentId": self.payment_id, "status": self.status, "acceptedAt": self.accepted_at,
                "merchantPaymentId": self.merchant_payment_id,
                "amount": {"amount": self.amount, "currency": self.currency},
                "requestedAt": self.requested_at, "expiresAt": self.expires_at}  # fmt: skip


@dataclass(slots=True)
class Refund:
    """One refund, by merchantRefundId."""

    merchant_refund_id: str
    payment_id: str
    amount: int
    currency: str
    requested_at: int
    status: str = "COMPLETED"

    def data(self) -> dict[str, Any]:
        """The `data` of a refund answer."""
        return {"status": self.status, "acceptedAt": self.requested_at,
                "merchantRefundId": self.merchant_refund_id, "paymentId": self.payment_id,
                "amount": {"amount": self.amount, "currency": self.currency},
                "requestedAt": self.requested_at}  # fmt: skip


def cpm_outcome(code: str) -> tuple[int, str, str | None]:
    """(HTTP status, resultInfo code, payment status or None when nothing is recorded) for a scanned code."""
    if len(code) != 18 or not code.isdigit():
        return 400, "INVALID_USER_AUTHORIZATION_ID", None
    if code.startswith("9"):
        return 400, "INSUFFICIENT_BALANCE", "FAILED"
    if code.startswith("8"):
        return 202, "USER_CONFIRMATION_REQUIRED", "CREATED"
    return 201, "SUCCESS", "COMPLETED"


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected misbehaviour of the next matching request.

    `status` answers with that HTTP status (5xx or 429, with `retry_after`); `delay_s` waits that long;
    `after` does it after the request was processed (the change happened, its answer is lost or late)."""

    method: str | None = None
    path: str | None = None  # a prefix of the request path
    status: int | None = None
    delay_s: float = 0.0
    after: bool = False
    retry_after: int | None = None

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to the request."""
        return (self.method in (None, method)) and (self.path is None or path.startswith(self.path))


@dataclass(slots=True)
class Faults:
    """Faults queued in order; each is used once."""

    queue: deque[Fault] = field(default_factory=deque)

    def push(self, fault: Fault, times: int = 1) -> None:
        """Queue `fault` for the next `times` matching requests."""
        self.queue.extend([fault] * times)

    def take(self, method: str, path: str) -> Fault | None:
        """The first queued fault that matches, removed; None if none does."""
        for fault in self.queue:
            if fault.matches(method, path):
                self.queue.remove(fault)
                return fault
        return None

    def clear(self) -> None:
        """Forget every queued fault."""
        self.queue.clear()
