"""Building a sale's receipt (docs/receipts.md): items checked at the sale, content from what the sale
stored, a receipt number per device taken through the database's one writer before anything prints."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

from agent.adapters.store.settlements import Settlements
from agent.domain.commands import CreateSale
from agent.domain.errors import SaleRefused
from agent.domain.invoice import check_items
from agent.domain.ports import SaleReceipt
from agent.domain.qr_sale import QrSale
from agent.domain.receipt import ITEMS_KEY, RATES_KEY, StoreInfo, sale_receipt, stored_receipt
from agent.domain.refund import Refund
from agent.domain.sale import Sale
from agent.settings import Settings
from drivers.escpos.receipt import Issuer


def store_info(settings: Settings) -> StoreInfo:
    """The store as its receipts show it: name, time zone, the issuer when a registration number is set."""
    store = settings.store
    issuer = (Issuer(store.issuer_name or store.name, store.registration_number)
              if store.registration_number else None)
    return StoreInfo(store.name, ZoneInfo(store.timezone), issuer)


def check_sale_items(cmd: CreateSale) -> None:
    """Items, when given: known tax rates, summing to the amount, and not mixed with lines/tax (422)."""
    if not cmd.items:
        return
    if cmd.lines or cmd.tax:
        raise SaleRefused("unexpected_field", "Send either items (the tax per rate is computed) or lines "
                          "and tax, not both.", param="lines" if cmd.lines else "tax")
    for key in (ITEMS_KEY, RATES_KEY):
        if key in cmd.metadata:
            raise SaleRefused("unexpected_field", f"metadata.{key} is where the items go on a sale with "
                              "items: use another key.", param=f"metadata.{key}")
    check_items([i.to_item() for i in cmd.items], cmd.amount)


class Receipts:
    """The receipt content of cash, card and QR sales."""

    def __init__(self, settings: Settings, numbers: Settlements, clock_ms: Callable[[], int]) -> None:
        self._store = store_info(settings)
        self._numbers = numbers
        self._clock = clock_ms

    @staticmethod
    def stored(cmd: CreateSale) -> dict[str, Any]:
        """What the sale keeps for its receipt (receipt_json)."""
        return stored_receipt([i.to_item() for i in cmd.items], [ln.model_dump() for ln in cmd.lines],
                              cmd.tax)

    async def for_sale(self, sale: Sale) -> SaleReceipt:
        """The receipt of a recorded cash or card sale, numbered."""
        number = await self._numbers.receipt_number(sale.local_id, self._clock())
        return sale_receipt(self._store, json.loads(sale.receipt_json), sale.to_json()["result"],
                            receipt_id=sale.local_id, number=number, created_at_ms=sale.created_at,
                            currency=sale.currency, total=sale.amount, method=sale.method)

    async def for_qr(self, row: QrSale) -> SaleReceipt:
        """The receipt of a QR sale that succeeded, numbered in the same sequence."""
        number = await self._numbers.receipt_number(row.local_id, self._clock())
        return sale_receipt(self._store, json.loads(row.receipt_json or "{}"), {}, receipt_id=row.local_id,
                            number=number, created_at_ms=row.created_at, currency=row.currency,
                            total=row.amount, method=row.payment_method)

    async def for_refund(self, refund: Refund, sale_total: int, stored: dict[str, Any],
                         original: str, original_at_ms: int | None = None) -> SaleReceipt:
        """The refund receipt (返品), numbered in the same sequence: an itemised refund lists the returned
        items with their tax per rate, a full one repeats the sale's; another partial one is one line without
        tax (docs/receipts.md, "Refund receipts")."""
        number = await self._numbers.receipt_number(refund.local_id, self._clock())
        if refund.returned_items:
            stored = stored_receipt(refund.returned_items, (), 0)
        elif refund.amount != sale_total:
            stored = {"lines": [{"name": f"返品 {refund.reason or ''}".strip(), "quantity": 1,
                                 "amount": refund.amount}], "tax": 0}
        receipt = sale_receipt(self._store, stored, {}, receipt_id=refund.local_id, number=number,
                               created_at_ms=refund.created_at, currency=refund.currency, total=refund.amount,
                               method=refund.method)
        return replace(receipt, refund_of=original, refund_of_at_ms=original_at_ms)
