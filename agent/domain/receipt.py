"""The content of a sale's receipt (docs/receipts.md): pure, no I/O.

What a sale stores for its receipt (`receipt_json`: legacy `lines` and `tax`, or `items` with their per-rate
totals) and the SaleReceipt the printer lays out from it, with the store's issuer block and time zone. The
same function serves cash, card and QR sales, so every receipt of the terminal reads alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from agent.domain.invoice import Item, rate_totals, receipt_lines, summary_json
from drivers.escpos.receipt import Issuer, RateTotal, ReceiptLine, SaleReceipt

# Keys of the sync item's metadata that carry the items (docs/receipts.md); a client's own metadata may not
# use them together with `items`.
ITEMS_KEY, RATES_KEY = "line_items", "tax_summary"


@dataclass(frozen=True, slots=True)
class StoreInfo:
    """The store as its receipts show it."""

    name: str
    tz: tzinfo
    issuer: Issuer | None = None


def stored_receipt(items: Sequence[Item], lines: Sequence[Mapping[str, Any]], tax: int) -> dict[str, Any]:
    """What a sale keeps for its receipt: the items and per-rate totals, or the legacy lines and tax."""
    if not items:
        return {"lines": [dict(line) for line in lines], "tax": tax}
    rates = rate_totals(items)
    return {"items": [i.to_json() for i in items], "rates": summary_json(rates),
            "tax": sum(rt.tax for rt in rates)}


def sync_metadata(items: Sequence[Item]) -> dict[str, Any]:
    """The items and per-rate totals as carried in the sync item's metadata (nothing is lost upstream)."""
    if not items:
        return {}
    return {ITEMS_KEY: [i.to_json() for i in items], RATES_KEY: summary_json(rate_totals(items))}


def items_of(stored: Mapping[str, Any]) -> tuple[Item, ...]:
    """The items of a stored receipt (none for a legacy one)."""
    return tuple(Item(str(i["name"]), int(i["unit_price"]), int(i["quantity"]), int(i["tax_rate"]))
                 for i in stored.get("items", ()))


def sale_receipt(store: StoreInfo, stored: Mapping[str, Any], result: Mapping[str, Any], *, receipt_id: str,
                 number: int, created_at_ms: int, currency: str, total: int, method: str) -> SaleReceipt:
    """The receipt of a sale from what it stored; the tax per rate is recomputed from the items."""
    items = items_of(stored)
    lines: tuple[ReceiptLine, ...]
    rates: tuple[RateTotal, ...] = ()
    if items:
        lines, rates = receipt_lines(items), rate_totals(items)
        tax = sum(rt.tax for rt in rates)
    else:
        lines = tuple(ReceiptLine(str(li["name"]), int(li["quantity"]), int(li["amount"]))
                      for li in stored.get("lines", ()))
        tax = int(stored.get("tax", 0))
    return SaleReceipt(
        receipt_id=receipt_id, receipt_number=number, store_name=store.name, created_at_ms=created_at_ms,
        currency=currency, total=total, tax=tax, payment_method=method, lines=lines,
        cash_received=result.get("cash_received"), change=result.get("change"),
        card_brand=result.get("card_brand"), card_last_4=result.get("card_last_4"),
        approval_code=result.get("approval_code"), rates=rates, issuer=store.issuer, tz=store.tz)
