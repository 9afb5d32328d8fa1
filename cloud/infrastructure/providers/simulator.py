"""The `simulator` QR provider: issues MPM codes, charges CPM codes, and lets tests or the demo settle them.

It never calls a real provider. QR content points at the reserved `.invalid` domain. CPM codes starting with
`SIMFAIL` are declined, `SIMPEND` stay pending until marked, anything else is paid at once.
"""

from __future__ import annotations

from collections.abc import Mapping

from cloud.domain.ids import new_id
from cloud.domain.intent import PaymentIntent
from cloud.domain.ports import ProviderResult, ProviderStatus, RefundRequest
from cloud.domain.tenants import StoreProviderConfig

NAME = "simulator"
QR_BASE = "https://qr.simulator.invalid/mpm/"


class UnknownCode(LookupError):
    """The simulator never issued this reference."""


class SimulatorProvider:
    """In-memory provider state; one instance per server process."""

    name = NAME

    def __init__(self) -> None:
        self._codes: dict[str, ProviderStatus] = {}

    async def create_mpm(self, intent: PaymentIntent, config: StoreProviderConfig | None) -> ProviderResult:
        """Issue a pending merchant-presented code."""
        ref = new_id("simqr")
        self._codes[ref] = ProviderStatus.PENDING
        return ProviderResult(
            ref, ProviderStatus.PENDING, qr_content=f"{QR_BASE}{ref}?amount={intent.amount}"
        )

    async def charge_cpm(
        self, intent: PaymentIntent, customer_code: str, config: StoreProviderConfig | None
    ) -> ProviderResult:
        """Charge a scanned customer code (see the module doc for the outcome rules)."""
        ref = new_id("simpay")
        if customer_code.startswith("SIMFAIL"):
            status = ProviderStatus.FAILED
        elif customer_code.startswith("SIMPEND"):
            status = ProviderStatus.PENDING
        else:
            status = ProviderStatus.SUCCEEDED
        self._codes[ref] = status
        failure = "provider_declined" if status is ProviderStatus.FAILED else None
        return ProviderResult(ref, status, failure_code=failure)

    async def status(self, reference: str, config: StoreProviderConfig | None) -> ProviderResult:
        """The current status of a reference this simulator issued."""
        status = self._codes.get(reference)
        if status is None:
            return ProviderResult(reference, ProviderStatus.FAILED, failure_code="provider_unknown_reference")
        failure = "provider_declined" if status is ProviderStatus.FAILED else None
        return ProviderResult(reference, status, failure_code=failure)

    def mark(self, reference: str, status: ProviderStatus) -> None:
        """Settle a pending reference as paid or failed (what a customer's phone would do)."""
        if reference not in self._codes:
            raise UnknownCode(reference)
        self._codes[reference] = status

    async def cancel(self, reference: str, config: StoreProviderConfig | None) -> None:
        """Withdraw a pending reference (it reads as failed afterwards); others are left as they are."""
        if self._codes.get(reference) is ProviderStatus.PENDING:
            self._codes[reference] = ProviderStatus.FAILED

    async def refund(
        self, reference: str, refund: RefundRequest, config: StoreProviderConfig | None
    ) -> ProviderResult:
        """Refund a paid reference at once; refunding anything else fails with provider_not_refundable."""
        if self._codes.get(reference) is not ProviderStatus.SUCCEEDED:
            failure = "provider_not_refundable"
            return ProviderResult(refund.refund_id, ProviderStatus.FAILED, failure_code=failure)
        return ProviderResult(refund.refund_id, ProviderStatus.SUCCEEDED)

    def check_credentials(self, credentials: Mapping[str, str]) -> None:
        """The simulator needs no credentials: any object of strings is accepted."""
