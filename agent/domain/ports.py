"""Ports between the agent's sale flow and the devices (docs/devices.md).

The sale service depends only on these Protocols; drivers/ plus agent/adapters/devices/ provide the
adapters. With no adapter configured, a card sale takes the reader's result from the request instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

# The value types live in drivers/ (a library that imports no agent code); re-exported here for the agent.
from drivers.cardreader.result import CardResult, CardStatus, EntryMethod
from drivers.escpos.receipt import ReceiptLine, SaleReceipt, Slip

__all__ = [
    "CardReaderPort", "CardResult", "CardStatus", "DocumentPrinterPort", "EntryMethod",
    "ReceiptLine", "ReceiptPrinterPort", "SaleReceipt", "ScannerPort", "Slip",
]


class CardReaderPort(Protocol):
    """Drives a card reader through one sale; raises agent-visible errors for device faults."""

    async def authorize(self, amount: int, currency: str, reference: str) -> CardResult: ...

    async def cancel(self) -> None: ...


class ReceiptPrinterPort(Protocol):
    """Queues a receipt for durable, exactly-once printing; returns the print job id."""

    async def print_receipt(self, receipt: SaleReceipt) -> str: ...


@runtime_checkable
class DocumentPrinterPort(Protocol):
    """Queues a slip (an end-of-day report) once per document id; returns the print job id."""

    async def print_slip(self, slip: Slip, document_id: str) -> str: ...


class ScannerPort(Protocol):
    """Yields scanned codes (one per CR/LF-terminated line) as they arrive."""

    def codes(self) -> AsyncIterator[str]: ...
