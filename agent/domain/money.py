"""Formatting integer minor units for cashier-readable messages."""

from __future__ import annotations

# ISO 4217 minor-unit exponents of the currencies a store is likely to take; others default to 2.
_EXPONENT = {"JPY": 0, "KRW": 0, "VND": 0, "TWD": 2, "USD": 2, "EUR": 2, "GBP": 2, "CNY": 2, "THB": 2}
_SYMBOL = {"JPY": "¥", "USD": "$", "EUR": "€", "GBP": "£", "KRW": "₩"}


def format_money(amount: int, currency: str) -> str:
    """1234, JPY → '¥1,234'; 1234, USD → '$12.34'; unknown symbols fall back to the code."""
    exp = _EXPONENT.get(currency, 2)
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 10**exp)
    text = f"{whole:,}" + (f".{frac:0{exp}d}" if exp else "")
    symbol = _SYMBOL.get(currency)
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {currency}"
