"""A refund as the agent records it (pure, no I/O; docs/sync-protocol.md "Refund items", docs/settlement.md).

Cash and card refunds are items of the device's hash chain (`kind: "refund"`), taken offline like sales; a
QR sale's refund is made online through the cloud refund API. Either way a refund can never exceed what is
left of its sale: its amount minus every earlier refund of it the cloud has not rejected (queued ones too).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from agent.domain.errors import SaleRefused
from agent.domain.money import format_money
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


@dataclass(frozen=True, slots=True)
class NewRefund:
    """A refund to record; local_id and merchant_refund_id are chosen before it is written."""

    local_id: str
    sale_local_id: str
    amount: int
    reason: str | None
    merchant_refund_id: str
    trace_context: str | None = None


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

    def to_json(self) -> dict[str, Any]:
        """The refund as the local API shows it."""
        error = json.loads(self.sync_error) if self.sync_error else None
        return {"object": "refund", "local_id": self.local_id, "sale_local_id": self.sale_local_id,
                "payment_method": self.method, "amount": self.amount, "currency": self.currency,
                "reason": self.reason, "merchant_refund_id": self.merchant_refund_id, "seq": self.seq,
                "created_at": self.created_at, "sync_state": self.sync_state, "sync_error": error,
                "cloud_refund_id": self.cloud_refund_id, "cloud_intent_id": self.cloud_intent_id,
                "synced_at": self.synced_at}


@dataclass(frozen=True, slots=True)
class RecordedRefund:
    """A refund as stored, and whether this request created it (201) or found it (200, a retry)."""

    refund: Refund
    created: bool


def replay(known: Refund, new: NewRefund) -> RecordedRefund:
    """A retry under the same merchant_refund_id gets the first refund; another refund under it is 409."""
    if (known.sale_local_id, known.amount) == (new.sale_local_id, new.amount):
        return RecordedRefund(known, created=False)
    raise RefundRefused("merchant_refund_id_in_use", f"The reference {new.merchant_refund_id!r} already "
                        "belongs to another refund. Use a new reference for a new refund.",
                        param="merchant_refund_id")


def check_refund(sale: SaleToRefund | None, amount: int) -> SaleToRefund:
    """Refuse a refund of an unknown, failed or cancelled sale, or one above what is left of it."""
    if sale is None:
        raise RefundRefused("sale_not_found", "返品できません: その取引は見つかりません。 No sale with that "
                            "local_id on this terminal.", param="local_id", status=404)
    if sale.status != "succeeded":
        raise RefundRefused("payment_not_refundable", f"返品できません: この取引は {sale.status} です。 "
                            f"A {sale.status} sale took no money, so there is nothing to refund.")
    remaining = sale.amount - sale.refunded
    if amount > remaining:
        left = format_money(remaining, sale.currency)
        raise RefundRefused("refund_exceeds_remaining", f"返金額が残額 {left} を超えています。 The refund is "
                            f"more than the {left} left of this sale (earlier refunds count, queued ones "
                            "too).", param="amount")
    return sale


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
                  sale.currency, new.reason, new.merchant_refund_id, "queued")
