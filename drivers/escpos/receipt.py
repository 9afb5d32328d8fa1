"""The SaleReceipt value and its ESC/POS bytes (Japanese labels by default); pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo

from drivers.escpos import encode as e


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


JST = timezone(timedelta(hours=9), "JST")
# ISO 4217 minor-unit exponents of the currencies a store here takes; others default to 2.
_EXPONENT = {"JPY": 0, "KRW": 0, "USD": 2, "EUR": 2, "CNY": 2, "TWD": 2}


@dataclass(frozen=True, slots=True)
class Labels:
    """The fixed words of a receipt (Japanese by default; ENGLISH for visitors' copies)."""

    title: str = "領収書"
    total: str = "合計"
    tax: str = "(内消費税等)"
    method: str = "お支払方法"
    tendered: str = "お預り"
    change: str = "お釣り"
    card: str = "カード"
    approval: str = "承認番号"
    methods: dict[str, str] = field(default_factory=lambda: {
        "cash": "現金", "card": "クレジットカード", "qr_mpm": "QRコード決済", "qr_cpm": "QRコード決済"})


JAPANESE = Labels()
ENGLISH = Labels("RECEIPT", "TOTAL", "(incl. tax)", "Payment", "Cash", "Change", "Card", "Approval",
                 {"cash": "Cash", "card": "Credit card", "qr_mpm": "QR payment", "qr_cpm": "QR payment"})


_width = e.display_width


def money(amount: int, currency: str) -> str:
    """Integer minor units to printed money: ¥1,234 for JPY, 'USD 12.34' otherwise."""
    if currency == "JPY":
        return f"¥{amount:,}"
    exp = _EXPONENT.get(currency, 2)
    sign = "-" if amount < 0 else ""
    major, minor = divmod(abs(amount), 10**exp)
    return f"{currency} {sign}{major:,}" + (f".{minor:0{exp}d}" if exp else "")


def _fit(value: str, columns: int) -> str:
    """Cut text to at most `columns` display columns (Kanji count two)."""
    if e.display_width(value) <= columns:
        return value
    out = ""
    for ch in value:
        if e.display_width(out + ch) > columns - 1:
            break
        out += ch
    return out + "…" if e.display_width(out + "…") <= columns else out


def two_columns(left: str, right: str, width: int) -> str:
    """Left text and right-aligned text on one line of `width` columns, left side shortened if needed."""
    right_w, left_w = _width(right), _width(left)
    if left_w > width - right_w - 1:
        left = _fit(left, max(width - right_w - 1, 0))
        left_w = _width(left)
    return f"{left}{' ' * (width - left_w - right_w)}{right}"


# Command runs of the receipt layout, joined once at import (pure bytes).
_HEAD = e.init() + e.japanese_setup() + e.align("center") + e.bold(True) + e.size(2, 2)
_TITLE = e.size(1, 1)
_BODY = e.bold(False) + e.align("left")
_TOTAL_ON = e.bold(True) + e.size(1, 2)
_TOTAL_OFF = e.size(1, 1) + e.bold(False)
_QR_ALIGN = e.align("center")
_FOOT = e.feed(1)
_END = e.align("left") + e.cut(partial=True, feed_lines=4)
_KICK = e.drawer_kick(2)


def _item(name: str, right: str, right_w: int, width: int) -> str:
    """two_columns(name, right, width) given right's display width, the plain-ASCII name done inline."""
    if name.isascii() and name.isprintable() and "\\" not in name and "~" not in name:
        name_w = len(name)
    else:
        name_w = _width(name)
    if name_w > width - right_w - 1:
        return two_columns(name, right, width)
    return f"{name}{' ' * (width - name_w - right_w)}{right}"


def _items(lines: Sequence[ReceiptLine], cur: str, width: int) -> list[str]:
    """The item lines: name left, 'xN ' (when N is not 1) and the amount right."""
    if cur != "JPY":
        return [two_columns(ln.name, (f"x{ln.quantity} " if ln.quantity != 1 else "") + money(ln.amount, cur),
                            width) for ln in lines]
    # JPY amounts are '¥' plus ASCII digits and commas (integers), so the right side's width is its length.
    out = []
    for ln in lines:
        right = f"x{ln.quantity} ¥{ln.amount:,}" if ln.quantity != 1 else f"¥{ln.amount:,}"
        name = ln.name
        pad = width - len(name) - len(right)
        if pad > 0 and name.isascii() and name.isprintable() and "\\" not in name and "~" not in name:
            out.append(f"{name}{' ' * pad}{right}")  # plain ASCII name that fits: _item's first case
        else:
            out.append(_item(name, right, len(right), width))
    return out


def build_receipt(
    r: SaleReceipt, width: int = 42, tz: tzinfo = JST, kick_drawer: bool = False, labels: Labels = JAPANESE
) -> bytes:
    """The whole receipt: header, lines, totals with tax, payment, change or card details, QR, cut."""
    cur = r.currency

    def fmt(amount: int) -> str:
        return f"¥{amount:,}" if cur == "JPY" else money(amount, cur)

    rule = "-" * width
    when = datetime.fromtimestamp(r.created_at_ms / 1000, tz).strftime("%Y-%m-%d %H:%M")
    text = e.text
    head = [_HEAD, text(f"{_fit(r.store_name, width // 2)}\n"), _TITLE, text(f"{labels.title}\n"), _BODY]
    body = [two_columns(when, f"No.{r.receipt_number:06d}", width), rule]
    body += _items(r.lines, cur, width)
    body += [rule, ""]
    rest = [two_columns(labels.tax, fmt(r.tax), width),
            two_columns(labels.method, labels.methods.get(r.payment_method, r.payment_method), width)]
    if r.cash_received is not None:
        rest.append(two_columns(labels.tendered, fmt(r.cash_received), width))
    if r.change is not None:
        rest.append(two_columns(labels.change, fmt(r.change), width))
    if r.card_last_4 is not None:
        rest.append(two_columns(labels.card, f"{r.card_brand or ''} ****{r.card_last_4}".strip(), width))
    if r.approval_code is not None:
        rest.append(two_columns(labels.approval, r.approval_code, width))
    rest += [rule, ""]
    out = [
        *head, text("\n".join(body)), _TOTAL_ON, text(two_columns(labels.total, fmt(r.total), width) + "\n"),
        _TOTAL_OFF, text("\n".join(rest)), _QR_ALIGN, e.qr(r.qr_url or r.receipt_id, module=4, ec="M"), _FOOT,
        text(_fit(r.receipt_id, width) + "\n"), _END,
    ]
    if kick_drawer:
        out.append(_KICK)
    return b"".join(out)
