"""Ports between the agent's sale flow and the devices (DESIGN §9).

The sale service (agent helper) depends only on these Protocols; drivers/ plus agent/devices/ provide the
adapters. With no adapter configured, a card sale takes the reader's result from the request instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

CardStatus = Literal["approved", "declined"]
EntryMethod = Literal["chip", "contactless", "swipe", "manual"]


@dataclass(frozen=True, slots=True)
class CardResult:
    """What a card reader answers for one sale. Never a full card number: last 4 digits only."""

    status: CardStatus
    approval_code: str | None
    card_brand: str | None
    card_last_4: str | None
    entry_method: EntryMethod | None
    decline_reason: str | None = None


@dataclass(frozen=True, slots=True)
class ReceiptLine:
    """One printed line of a sale: name, quantity, amount in minor units."""

    name: str
    quantity: int
    amount: int


@dataclass(frozen=True, slots=True)
class SaleReceipt:
    """Everything a receipt shows; amounts are integer minor units."""

    receipt_id: str  # the sale's local_id
    receipt_number: int  # the sale's seq
    store_name: str
    created_at_ms: int
    currency: str
    total: int
    tax: int
    payment_method: str  # "cash" | "card" | "qr_mpm" | "qr_cpm"
    lines: Sequence[ReceiptLine] = field(default_factory=tuple)
    cash_received: int | None = None
    change: int | None = None
    card_brand: str | None = None
    card_last_4: str | None = None
    approval_code: str | None = None
    qr_url: str | None = None


class CardReaderPort(Protocol):
    """Drives a card reader through one sale; raises agent-visible errors for device faults."""

    async def authorize(self, amount: int, currency: str, reference: str) -> CardResult: ...

    async def cancel(self) -> None: ...


class ReceiptPrinterPort(Protocol):
    """Queues a receipt for durable, exactly-once printing; returns the print job id."""

    async def print_receipt(self, receipt: SaleReceipt) -> str: ...


class ScannerPort(Protocol):
    """Yields scanned codes (one per CR/LF-terminated line) as they arrive."""

    def codes(self) -> AsyncIterator[str]: ...
