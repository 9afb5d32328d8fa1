"""Japan's qualified invoice rules (適格請求書) for receipts: pure, no I/O (docs/receipts.md).

- Prices are tax-inclusive (内税): an item's unit price already holds its consumption tax, as JPY shops show
  prices; a sale's amount is the sum of its items' unit price x quantity.
- The tax of each rate is computed once per receipt from that rate's tax-inclusive total, rounded down
  (floor, 切り捨て): tax = floor(total x rate / (100 + rate)). Never per item.
- Known rates: 10 (standard), 8 (reduced, marked), 0 (exempt, 非課税: no tax).
- The issuer's registration number is "T" + 13 digits whose first digit is the check digit of the other 12
  (the corporate-number rule, docs/receipts.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agent.domain.errors import SaleRefused
from drivers.escpos.receipt import RateTotal, ReceiptLine

STANDARD, REDUCED, EXEMPT = 10, 8, 0
RATES = (STANDARD, REDUCED, EXEMPT)  # the print order of the per-rate lines
RATE_NAMES = {STANDARD: "standard", REDUCED: "reduced", EXEMPT: "exempt"}


@dataclass(frozen=True, slots=True)
class Item:
    """One sold item: tax-inclusive unit price in minor units, quantity, tax rate in percent."""

    name: str
    unit_price: int
    quantity: int
    tax_rate: int

    @property
    def amount(self) -> int:
        """Tax-inclusive line amount."""
        return self.unit_price * self.quantity

    def to_json(self) -> dict[str, Any]:
        """As stored with the sale and carried in the sync item's metadata."""
        return {"name": self.name, "unit_price": self.unit_price, "quantity": self.quantity,
                "tax_rate": self.tax_rate}


def tax_included(gross: int, rate: int) -> int:
    """The consumption tax inside a tax-inclusive total at `rate` percent, rounded down once."""
    return gross * rate // (100 + rate)


def rate_totals(items: Sequence[Item]) -> tuple[RateTotal, ...]:
    """Per rate present, in print order (10, 8, exempt): the tax-inclusive total and its tax."""
    gross = {rate: 0 for rate in RATES}
    present: set[int] = set()
    for item in items:
        gross[item.tax_rate] += item.amount
        present.add(item.tax_rate)
    return tuple(RateTotal(rate, gross[rate], tax_included(gross[rate], rate), reduced=rate == REDUCED,
                           exempt=rate == EXEMPT) for rate in RATES if rate in present)


def check_items(items: Sequence[Item], amount: int) -> None:
    """Refuse an unknown tax rate or items whose sum is not the sale's amount (SaleRefused, 422)."""
    for n, item in enumerate(items):
        if item.tax_rate not in RATES:
            raise SaleRefused("unknown_tax_rate", f"items[{n}].tax_rate {item.tax_rate} is not a rate this "
                              "terminal knows: use 10 (standard), 8 (reduced) or 0 (exempt).",
                              param=f"items[{n}].tax_rate")
    total = sum(item.amount for item in items)
    if total != amount:
        raise SaleRefused("items_total_mismatch", f"The items add up to {total} (tax-inclusive prices) but "
                          f"the amount is {amount}: they must be equal.", param="amount")


def receipt_lines(items: Sequence[Item]) -> tuple[ReceiptLine, ...]:
    """The printed item lines, reduced-rate items marked."""
    return tuple(ReceiptLine(i.name, i.quantity, i.amount, i.unit_price, i.tax_rate == REDUCED)
                 for i in items)


def summary_json(rates: Sequence[RateTotal]) -> list[dict[str, Any]]:
    """The per-rate totals as stored and synced: rate, tax-inclusive total, tax."""
    return [{"rate": rt.rate, "kind": RATE_NAMES[rt.rate], "gross": rt.gross, "tax": rt.tax} for rt in rates]


def corporate_check_digit(base: str) -> int:
    """The check digit of a 12-digit base number (corporate-number rule, docs/receipts.md):
    9 - (sum of digit_n x (1 if n is odd else 2), n counted from the rightmost digit as 1) mod 9."""
    total = sum(int(d) * (1 if n % 2 else 2) for n, d in enumerate(reversed(base), start=1))
    return 9 - total % 9


def registration_number_problem(value: str) -> str | None:
    """Why `value` is not a qualified invoice registration number, or None when it is one."""
    if len(value) != 14 or value[0] != "T" or not value[1:].isascii() or not value[1:].isdigit():
        return "must be 'T' followed by 13 digits (e.g. T7000012050002)"
    if int(value[1]) != corporate_check_digit(value[2:]):
        return "its check digit (the first of the 13 digits) does not match the other 12"
    return None
