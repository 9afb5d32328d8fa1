"""A refund as the agent records it (pure, no I/O; docs/sync-protocol.md "Refund items", docs/settlement.md).

Cash and card refunds are items of the device's hash chain (`kind: "refund"`), taken offline like sales; a
QR sale's refund is made online through the cloud refund API. Either way a refund can never exceed what is
left of its sale: its amount minus every earlier refund of it the cloud has not rejected (queued ones too).
An itemised refund (docs/receipts.md "Refund receipts") returns lines of the sale's items: its amount is their
tax-inclusive sum, and a line is never returned beyond what was sold minus what earlier refunds returned.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from agent.domain.errors import SaleRefused
from agent.domain.invoice import Item
from agent.domain.money import format_money
from agent.domain.receipt import items_of
from sync.wire import canonical_json, item_hash

CHAIN_METHODS = ("cash", "card")  # final offline: refunded through sync
ONLINE_METHODS = ("qr_mpm", "qr_cpm")  # refunded through the cloud refund API


class RefundRefused(SaleRefused):
    """A refund not taken, nothing written: unknown sale (404), not refundable or too much (409)."""

    status = 409


@dataclass(frozen=True, slots=True)
class SaleToRefund:
    """What a refund needs to know of its sale."""

    local_id: str
    method: str  # cash | card | qr_mpm | qr_cpm
    status: str
    amount: int
    currency: str
    refunded: int  # the sum of its earlier refunds not rejected by the cloud
    cloud_intent_id: str | None = None
    items: tuple[Item, ...] = ()  # its items (none: a sale without items)
    returned: Mapping[int, int] = field(default_factory=dict)  # line → quantity its earlier refunds returned


@dataclass(frozen=True, slots=True)
class ReturnedLine:
    """One line of an itemised refund: the 0-based index into the sale's items, and how many come back."""

    line: int
    quantity: int


@dataclass(frozen=True, slots=True)
class NewRefund:
    """A refund to record; local_id and merchant_refund_id are chosen before it is written."""

    local_id: str
    sale_local_id: str
    amount: int
    reason: str | None
    merchant_refund_id: str
    trace_context: str | None = None
    items: tuple[ReturnedLine, ...] = ()  # none: an amount-only refund


@dataclass(frozen=True, slots=True)
class Refund:
    """One row of the `refunds` table."""

    local_id: str
    seq: int | None
    created_at: int
    prev_hash: str | None
    hash: str | None
    item_json: str | None
    sale_local_id: str
    method: str
    amount: int
    currency: str
    reason: str | None
    merchant_refund_id: str
    sync_state: str
    sync_error: str | None = None
    cloud_refund_id: str | None = None
    cloud_intent_id: str | None = None
    synced_at: int | None = None
    items_json: str | None = None  # an itemised refund's returned lines, with their prices (migration 0601)

    @property
    def returned_items(self) -> tuple[Item, ...]:
        """The returned items as its receipt prints them (none for an amount-only refund)."""
        return items_of({"items": self._stored_items()})

    @property
    def returned_lines(self) -> tuple[ReturnedLine, ...]:
        """Which lines of the sale it returned, and how many of each."""
        return tuple(ReturnedLine(int(i["line"]), int(i["quantity"])) for i in self._stored_items())

    def _stored_items(self) -> list[dict[str, Any]]:
        return list(json.loads(self.items_json)) if self.items_json else []

    def to_json(self) -> dict[str, Any]:
        """The refund as the local API shows it."""
        error = json.loads(self.sync_error) if self.sync_error else None
        return {"object": "refund", "local_id": self.local_id, "sale_local_id": self.sale_local_id,
                "payment_method": self.method, "amount": self.amount, "currency": self.currency,
                "reason": self.reason, "merchant_refund_id": self.merchant_refund_id, "seq": self.seq,
                "created_at": self.created_at, "sync_state": self.sync_state, "sync_error": error,
                "cloud_refund_id": self.cloud_refund_id, "cloud_intent_id": self.cloud_intent_id,
                "synced_at": self.synced_at, "items": self._stored_items()}


@dataclass(frozen=True, slots=True)
class RecordedRefund:
    """A refund as stored, and whether this request created it (201) or found it (200, a retry)."""

    refund: Refund
    created: bool


def replay(known: Refund, new: NewRefund) -> RecordedRefund:
    """A retry under the same merchant_refund_id gets the first refund; another refund under it is 409."""
    if (known.sale_local_id, known.amount, _line_set(known.returned_lines)) == (
            new.sale_local_id, new.amount, _line_set(new.items)):
        return RecordedRefund(known, created=False)
    raise RefundRefused("merchant_refund_id_in_use", f"The reference {new.merchant_refund_id!r} already "
                        "belongs to another refund. Use a new reference for a new refund.",
                        param="merchant_refund_id")


def _line_set(lines: Sequence[ReturnedLine]) -> list[tuple[int, int]]:
    """Returned lines in an order-free form: the same lines in another order are the same refund."""
    return sorted((line.line, line.quantity) for line in lines)


def _known(sale: SaleToRefund | None) -> SaleToRefund:
    if sale is None:
        raise RefundRefused("sale_not_found", "返品できません: その取引は見つかりません。 No sale with that "
                            "local_id on this terminal.", param="local_id", status=404)
    return sale


def refund_amount(sale: SaleToRefund | None, amount: int | None, items: Sequence[ReturnedLine]) -> int:
    """The amount to refund: the one given, or with items their tax-inclusive sum, which a given amount must
    equal (422: no amount nor items, items of a sale without items, an unknown or repeated line)."""
    if not items:
        if amount is None:
            raise RefundRefused("amount_required", "返金額か返品する明細を指定してください。 Send the "
                                "amount, or the items to return.", param="amount", status=422)
        return amount
    sale = _known(sale)
    if not sale.items:
        raise RefundRefused("sale_not_itemised", "この取引には明細がないため明細での返品はできません。 "
                            "This sale was made without items: refund an amount instead.", param="items",
                            status=422)
    seen: set[int] = set()
    for n, item in enumerate(items):
        if not 0 <= item.line < len(sale.items) or item.line in seen:
            what = "is not a line of this sale" if item.line not in seen else "is already in this refund"
            raise RefundRefused("refund_line_invalid", f"明細 {item.line} は返品できません。 items[{n}].line "
                                f"{item.line} {what} (0 to {len(sale.items) - 1}, each line once).",
                                param=f"items[{n}].line", status=422)
        seen.add(item.line)
    total = sum(sale.items[i.line].unit_price * i.quantity for i in items)
    if total <= 0:  # only free lines (a ¥0 bag): nothing to give back
        raise RefundRefused("refund_amount_zero", "返金額が0円になるため返品できません。 The items to return "
                            "are free: there is no amount to refund.", param="items", status=422)
    if amount is not None and amount != total:
        given, summed = format_money(amount, sale.currency), format_money(total, sale.currency)
        raise RefundRefused("refund_items_mismatch", f"返金額 {given} が明細の合計 {summed} と一致しません。 "
                            f"The items to return add up to {summed} (tax-inclusive prices), but the amount "
                            f"is {given}: send the same, or only the items.", param="amount", status=422)
    return total


def _check_lines(sale: SaleToRefund, items: Sequence[ReturnedLine]) -> None:
    for n, item in enumerate(items):
        left = sale.items[item.line].quantity - sale.returned.get(item.line, 0)
        if item.quantity > left:
            name = sale.items[item.line].name
            raise RefundRefused("refund_exceeds_sold", f"明細 {item.line} ({name}) の返品数が残数 {left} を"
                                f"超えています。 Only {left} of line {item.line} can still be returned (sold "
                                "minus what earlier refunds returned, queued ones too).",
                                param=f"items[{n}].quantity")


def check_refund(sale: SaleToRefund | None, amount: int,
                 items: Sequence[ReturnedLine] = ()) -> SaleToRefund:
    """Refuse a refund of an unknown, failed or cancelled sale, one above what is left of it, or items beyond
    what is left of their lines (`refund_amount` checked the items against the sale's lines)."""
    sale = _known(sale)
    if sale.status != "succeeded":
        raise RefundRefused("payment_not_refundable", f"返品できません: この取引は {sale.status} です。 "
                            f"A {sale.status} sale took no money, so there is nothing to refund.")
    _check_lines(sale, items)
    remaining = sale.amount - sale.refunded
    if amount > remaining:
        left = format_money(remaining, sale.currency)
        raise RefundRefused("refund_exceeds_remaining", f"返金額が残額 {left} を超えています。 The refund is "
                            f"more than the {left} left of this sale (earlier refunds count, queued ones "
                            "too).", param="amount")
    return sale


def returned_quantities(items_jsons: Iterable[str]) -> dict[int, int]:
    """Line → quantity returned, over the stored items of a sale's refunds."""
    counts: Counter[int] = Counter()
    for text in items_jsons:
        for item in json.loads(text):
            counts[int(item["line"])] += int(item["quantity"])
    return dict(counts)


def with_earlier(sale: SaleToRefund, earlier: Sequence[NewRefund]) -> SaleToRefund:
    """The sale as seen after refunds not yet stored (earlier jobs of the writer's batch)."""
    if not earlier:
        return sale
    returned = Counter(sale.returned)
    for new in earlier:
        returned.update({i.line: i.quantity for i in new.items})
    return replace(sale, refunded=sale.refunded + sum(n.amount for n in earlier), returned=dict(returned))


def items_json(new: NewRefund, sale: SaleToRefund) -> str | None:
    """The returned lines as stored with the refund: line index, name, unit price, quantity, rate."""
    if not new.items:
        return None
    rows = [{"line": i.line, **replace(sale.items[i.line], quantity=i.quantity).to_json()} for i in new.items]
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))


def refund_item(new: NewRefund, currency: str, seq: int, created_at: int, prev_hash: str) -> dict[str, Any]:
    """The sync item of a chain refund, without its hash."""
    body: dict[str, Any] = {"amount": new.amount, "currency": currency,
                            "merchant_refund_id": new.merchant_refund_id,
                            "payment_local_id": new.sale_local_id}
    if new.reason:
        body["reason"] = new.reason
    return {"kind": "refund", "local_id": new.local_id, "seq": seq, "created_at": created_at,
            "prev_hash": prev_hash, "refund": body}


def chained(new: NewRefund, sale: SaleToRefund, seq: int, created_at: int, prev_hash: str) -> Refund:
    """The chain refund row: item → canonical JSON → hash = item_hash(prev_hash, item)."""
    item = refund_item(new, sale.currency, seq, created_at, prev_hash)
    return Refund(new.local_id, seq, created_at, prev_hash, item_hash(prev_hash, item),
                  canonical_json(item).decode("utf-8"), sale.local_id, sale.method, new.amount,
                  sale.currency, new.reason, new.merchant_refund_id, "queued",
                  items_json=items_json(new, sale))
