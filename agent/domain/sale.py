"""The sale as the agent records it (pure: no I/O): one hash-chained item (docs/sync-protocol.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from sync.wire import canonical_json, item_hash

Method = Literal["cash", "card", "qr_mpm"]
SaleStatus = Literal["succeeded", "failed", "cancelled"]
SyncState = Literal["queued", "sending", "acked", "rejected", "expired"]
PENDING_STATES: tuple[SyncState, ...] = ("queued", "sending")

# payment_method → (processing_mode, payment_method_type), as mpac-pgw names them.
MODES: dict[str, tuple[str, str]] = {
    "cash": ("manual", "cash"),
    "card": ("external", "card"),
    "qr_mpm": ("pgw_processed", "qr_mpm"),
}
METHOD_OF_TYPE = {ptype: method for method, (_mode, ptype) in MODES.items()}


@dataclass(frozen=True, slots=True)
class NewSale:
    """A finished cash or card sale to record: its final status and the result of taking the money."""

    merchant_ref_id: str
    amount: int
    currency: str
    method: Method
    status: SaleStatus
    result: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    receipt: dict[str, Any] = field(default_factory=dict)  # lines and tax for the printer; not hashed
    enforce_caps: bool = True  # False once a card reader already approved: the money was taken
    trace_context: str | None = None  # W3C traceparent of the request that took it; not hashed, not sent

    def intent(self) -> dict[str, Any]:
        """The `intent` object of the batch item."""
        mode, ptype = MODES[self.method]
        return {
            "amount": self.amount, "currency": self.currency, "processing_mode": mode,
            "payment_method_type": ptype, "merchant_ref_id": self.merchant_ref_id, "status": self.status,
            "result": self.result, "metadata": self.metadata,
        }


@dataclass(frozen=True, slots=True)
class Sale:
    """One row of the `sales` table."""

    local_id: str
    seq: int
    created_at: int
    prev_hash: str
    hash: str
    item_json: str
    amount: int
    currency: str
    processing_mode: str
    payment_method_type: str
    merchant_ref_id: str
    status: str
    sync_state: str
    sync_error: str | None = None
    cloud_intent_id: str | None = None
    synced_at: int | None = None
    receipt_json: str = "{}"

    @property
    def method(self) -> str:
        """cash | card."""
        return METHOD_OF_TYPE.get(self.payment_method_type, self.payment_method_type)

    def item(self) -> dict[str, Any]:
        """The docs/sync-protocol.md batch item, hash included, exactly as it was hashed."""
        body: dict[str, Any] = json.loads(self.item_json)
        return {**body, "hash": self.hash}

    def to_json(self) -> dict[str, Any]:
        """The sale as the local API shows it."""
        intent = json.loads(self.item_json)["intent"]
        return {
            "object": "sale", "local_id": self.local_id, "seq": self.seq, "created_at": self.created_at,
            "payment_method": self.method, "processing_mode": self.processing_mode,
            "payment_method_type": self.payment_method_type, "amount": self.amount,
            "currency": self.currency, "merchant_ref_id": self.merchant_ref_id, "status": self.status,
            "result": intent["result"], "metadata": intent["metadata"],
            "receipt": json.loads(self.receipt_json), "prev_hash": self.prev_hash, "hash": self.hash,
            "sync_state": self.sync_state, "sync_error": self.sync_error,
            "cloud_intent_id": self.cloud_intent_id, "synced_at": self.synced_at,
        }


def chain(new: NewSale, local_id: str, seq: int, created_at: int, prev_hash: str) -> Sale:
    """Build the chained sale: item without hash → canonical JSON → hash = item_hash(prev_hash, item)."""
    item = {"local_id": local_id, "seq": seq, "created_at": created_at, "prev_hash": prev_hash,
            "intent": new.intent()}
    mode, ptype = MODES[new.method]
    return Sale(
        local_id=local_id, seq=seq, created_at=created_at, prev_hash=prev_hash,
        hash=item_hash(prev_hash, item), item_json=canonical_json(item).decode("utf-8"),
        amount=new.amount, currency=new.currency, processing_mode=mode, payment_method_type=ptype,
        merchant_ref_id=new.merchant_ref_id, status=new.status, sync_state="queued",
        receipt_json=json.dumps(new.receipt, ensure_ascii=False, separators=(",", ":")),
    )


def same_request(sale: Sale, new: NewSale) -> bool:
    """Is `new` a retry of `sale` (same reference, amount, currency and method)?"""
    return (sale.amount, sale.currency, sale.method) == (new.amount, new.currency, new.method)
