"""Builds the ESC/POS bytes of a sale receipt (Japanese labels by default) from a SaleReceipt; pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo

from agent.ports import SaleReceipt
from drivers.escpos import encode as e

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


class _Doc:
    """Collects commands and text lines; consecutive lines are encoded in one pass."""

    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.lines: list[str] = []

    def cmd(self, *commands: bytes) -> None:
        if self.lines:
            self.out.append(e.text("\n".join(self.lines) + "\n"))
            self.lines.clear()
        self.out.extend(commands)

    def bytes(self) -> bytes:
        self.cmd()
        return b"".join(self.out)


def build_receipt(
    r: SaleReceipt, width: int = 42, tz: tzinfo = JST, kick_drawer: bool = False, labels: Labels = JAPANESE
) -> bytes:
    """The whole receipt: header, lines, totals with tax, payment, change or card details, QR, cut."""
    cur, doc = r.currency, _Doc()
    rule = "-" * width
    when = datetime.fromtimestamp(r.created_at_ms / 1000, tz).strftime("%Y-%m-%d %H:%M")
    doc.cmd(e.init(), e.japanese_setup(), e.align("center"), e.bold(True), e.size(2, 2))
    doc.lines.append(_fit(r.store_name, width // 2))
    doc.cmd(e.size(1, 1))
    doc.lines.append(labels.title)
    doc.cmd(e.bold(False), e.align("left"))
    add = doc.lines.append
    add(two_columns(when, f"No.{r.receipt_number:06d}", width))
    add(rule)
    for line in r.lines:
        qty = f"x{line.quantity} " if line.quantity != 1 else ""
        add(two_columns(line.name, qty + money(line.amount, cur), width))
    add(rule)
    doc.cmd(e.bold(True), e.size(1, 2))
    add(two_columns(labels.total, money(r.total, cur), width))
    doc.cmd(e.size(1, 1), e.bold(False))
    add(two_columns(labels.tax, money(r.tax, cur), width))
    add(two_columns(labels.method, labels.methods.get(r.payment_method, r.payment_method), width))
    if r.cash_received is not None:
        add(two_columns(labels.tendered, money(r.cash_received, cur), width))
    if r.change is not None:
        add(two_columns(labels.change, money(r.change, cur), width))
    if r.card_last_4 is not None:
        add(two_columns(labels.card, f"{r.card_brand or ''} ****{r.card_last_4}".strip(), width))
    if r.approval_code is not None:
        add(two_columns(labels.approval, r.approval_code, width))
    add(rule)
    doc.cmd(e.align("center"), e.qr(r.qr_url or r.receipt_id, module=4, ec="M"), e.feed(1))
    add(_fit(r.receipt_id, width))
    doc.cmd(e.align("left"), e.cut(partial=True, feed_lines=4))
    if kick_drawer:
        doc.cmd(e.drawer_kick(2))
    return doc.bytes()
