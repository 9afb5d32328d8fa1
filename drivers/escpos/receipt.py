"""The SaleReceipt value and its ESC/POS bytes (Japanese labels by default); pure.

A receipt with tax-rate totals or an issuer is laid out as a qualified invoice (docs/receipts.md): items with
the reduced-rate mark, totals and tax per rate, the legend, the issuer's name and registration number. The
tax figures are computed by the agent (agent/domain/invoice.py); this module only lays them out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo

from drivers.escpos import encode as e


@dataclass(frozen=True, slots=True)
class ReceiptLine:
    """One printed line of a sale: name, quantity, amount in minor units (unit price and the reduced-rate
    mark on invoice receipts)."""

    name: str
    quantity: int
    amount: int
    unit_price: int | None = None
    reduced: bool = False  # printed with the reduced-rate mark (docs/receipts.md)


@dataclass(frozen=True, slots=True)
class RateTotal:
    """One tax rate's line of an invoice receipt: tax-inclusive total and the tax in it, minor units."""

    rate: int  # percent; 0 with exempt=True for non-taxable items
    gross: int
    tax: int
    reduced: bool = False
    exempt: bool = False


@dataclass(frozen=True, slots=True)
class Issuer:
    """Who issues the qualified invoice: name and registration number (T + 13 digits)."""

    name: str
    registration_number: str


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
    rates: Sequence[RateTotal] = field(default_factory=tuple)  # non-empty: an invoice receipt
    issuer: Issuer | None = None
    tz: tzinfo | None = None  # the store's time zone (build_receipt's `tz` when None)
    refund_of: str | None = None  # set: a refund receipt (返品) of this original receipt (docs/receipts.md)
    refund_of_at_ms: int | None = None  # when the original sale was made (a return invoice names its date)


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
    rate_target: str = "{rate}%対象"
    rate_tax: str = "  内消費税等"
    exempt: str = "非課税"
    mark: str = "※"
    legend: str = "※は軽減税率対象"
    registration: str = "登録番号"
    copy: str = "【再発行】"
    refund_title: str = "返品"
    refund_total: str = "返金合計"
    original: str = "元取引"
    original_date: str = "元取引日"


JAPANESE = Labels()
ENGLISH = Labels("RECEIPT", "TOTAL", "(incl. tax)", "Payment", "Cash", "Change", "Card", "Approval",
                 {"cash": "Cash", "card": "Credit card", "qr_mpm": "QR payment", "qr_cpm": "QR payment"},
                 "{rate}% items", "  incl. tax", "Tax exempt", "※", "※ reduced tax rate item",
                 "Registration No.", "[COPY]", "REFUND", "REFUND TOTAL", "Original")


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
    when = datetime.fromtimestamp(r.created_at_ms / 1000, r.tz or tz).strftime("%Y-%m-%d %H:%M")
    text = e.text
    invoice = bool(r.rates) or r.issuer is not None
    refund = r.refund_of is not None
    title = labels.refund_title if refund else labels.title
    head = [_HEAD, text(f"{_fit(r.store_name, width // 2)}\n"), _TITLE, text(f"{title}\n"), _BODY]
    body = _issuer_lines(r.issuer, labels, width) if r.issuer is not None else []
    body.append(two_columns(when, f"No.{r.receipt_number:06d}", width))
    body += [two_columns(labels.original, r.refund_of, width)] if r.refund_of is not None else []
    if r.refund_of is not None and r.refund_of_at_ms is not None:
        sold = datetime.fromtimestamp(r.refund_of_at_ms / 1000, r.tz or tz).strftime("%Y-%m-%d")
        body.append(two_columns(labels.original_date, sold, width))
    body.append(rule)
    body += _invoice_items(r.lines, fmt, labels, width) if invoice else _items(r.lines, cur, width)
    body += [rule, ""]
    # Without rates (an issuer, but lines and tax given by hand) the one tax line stays; a partial refund
    # knows no tax (tax 0, no rates) and prints none.
    rest = (_rate_lines(r.rates, fmt, labels, width) if r.rates
            else [two_columns(labels.tax, fmt(r.tax), width)] if r.tax or not refund else [])
    rest.append(two_columns(labels.method, labels.methods.get(r.payment_method, r.payment_method), width))
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
        *head, text("\n".join(body)), _TOTAL_ON,
        text(two_columns(labels.refund_total if refund else labels.total, fmt(r.total), width) + "\n"),
        _TOTAL_OFF, text("\n".join(rest)), _QR_ALIGN, e.qr(r.qr_url or r.receipt_id, module=4, ec="M"), _FOOT,
        text(_fit(r.receipt_id, width) + "\n"), _END,
    ]
    if kick_drawer:
        out.append(_KICK)
    return b"".join(out)


def _issuer_lines(issuer: Issuer, labels: Labels, width: int) -> list[str]:
    """The issuer's name and registration number, above the date (docs/receipts.md)."""
    return [_fit(issuer.name, width), two_columns(labels.registration, issuer.registration_number, width)]


def _invoice_items(lines: Sequence[ReceiptLine], fmt: Callable[[int], str], labels: Labels,
                   width: int) -> list[str]:
    """Invoice items: the mark before a reduced-rate name; a line '@price xN' below it when N > 1."""
    out: list[str] = []
    for ln in lines:
        name = f"{labels.mark}{ln.name}" if ln.reduced else ln.name
        if ln.quantity == 1:
            out.append(two_columns(name, fmt(ln.amount), width))
            continue
        unit = ln.unit_price if ln.unit_price is not None else ln.amount // ln.quantity
        out += [_fit(name, width), two_columns(f"  @{fmt(unit)} x{ln.quantity}", fmt(ln.amount), width)]
    return out


def _rate_lines(rates: Sequence[RateTotal], fmt: Callable[[int], str], labels: Labels,
                width: int) -> list[str]:
    """Per rate: the tax-inclusive total and the tax in it; exempt items without tax; the mark's legend."""
    out: list[str] = []
    for rt in rates:
        if rt.exempt:
            out.append(two_columns(labels.exempt, fmt(rt.gross), width))
            continue
        label = labels.rate_target.format(rate=rt.rate) + (f" {labels.mark}" if rt.reduced else "")
        out += [two_columns(label, fmt(rt.gross), width), two_columns(labels.rate_tax, fmt(rt.tax), width)]
    if any(rt.reduced for rt in rates):
        out.append(labels.legend)
    return out


def mark_copy(payload: bytes, labels: Labels = JAPANESE) -> bytes:
    """A receipt's bytes as a reprint: the copy banner on top, no drawer kick; anything else unchanged.

    The banner goes right after the receipt's fixed head (init, Japanese setup, centred bold double size),
    so the copy is the original receipt plus one line; a copy of a copy gets no second banner."""
    banner = e.text(f"{labels.copy}\n")
    if not payload.startswith(_HEAD) or payload.startswith(_HEAD + banner):
        return payload
    body = payload[len(_HEAD):]
    if body.endswith(_END + _KICK):
        body = body[: -len(_KICK)]
    return _HEAD + banner + body


@dataclass(frozen=True, slots=True)
class Slip:
    """A two-column slip (end-of-day reports, docs/settlement.md): sections of (label, value) rows."""

    store_name: str
    title: str
    sections: Sequence[Sequence[tuple[str, str]]]


def build_slip(slip: Slip, width: int = 42) -> bytes:
    """A slip's bytes: the receipt's head (so mark_copy marks its reprints too), rows, a rule between
    sections, cut. A row with an empty value is its label alone."""
    rule = "-" * width
    rows: list[str] = []
    for n, section in enumerate(slip.sections):
        if n:
            rows.append(rule)
        rows += [two_columns(label, value, width) if value else _fit(label, width)
                 for label, value in section]
    return b"".join([_HEAD, e.text(f"{_fit(slip.store_name, width // 2)}\n"), _TITLE,
                     e.text(f"{_fit(slip.title, width)}\n"), _BODY, e.text("\n".join(rows) + "\n"),
                     _FOOT, _END])
