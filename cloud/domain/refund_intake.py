"""The refund items of a sync batch (docs/sync-protocol.md, "Refund items"), pure: what each refunds, whether
it may, and the Refund it becomes. BatchPlan (cloud/domain/intake.py) walks the batch in request order and
hands each refund item here, so a refund may follow its sale in the same batch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from cloud.domain.card_data import CARD_NUMBER_REFUSED, card_number_field
from cloud.domain.card_data import MESSAGE as CARD_MESSAGE
from cloud.domain.intent import ProcessingMode, Status, Transaction
from cloud.domain.refunds import EXCEEDS, NOT_REFUNDABLE, REF_IN_USE, Refund, RefundStatus, SyncOrigin
from cloud.domain.refunds import refund_transaction as _txn

Error = dict[str, Any]
# Only sales that are final offline are refunded through sync; QR refunds go through the refund API.
SYNC_REFUNDABLE = frozenset({ProcessingMode.MANUAL, ProcessingMode.EXTERNAL})


class OfflineRefund(NamedTuple):
    """One synced refund item as the domain sees it (exactly one of the two payment references is set)."""

    local_id: str
    seq: int
    created_at_ms: int
    amount: int
    currency: str
    reason: str | None
    merchant_refund_id: str | None
    payment_local_id: str | None
    payment_intent_id: str | None


class Paid(NamedTuple):
    """What a refund is checked against: a stored intent, or a sale accepted earlier in the batch."""

    intent_id: str
    merchant_id: str
    store_id: str
    status: Status
    amount: int
    refunded: int
    currency: str
    mode: ProcessingMode | None


def _error(code: str, message: str, param: str | None) -> Error:
    return {"type": "invalid_request_error", "code": code, "message": message, "param": param}


@dataclass
class RefundBook:
    """What the batch knows about refunds: those stored, the payments they may refund, what it took so far."""

    known: dict[str, tuple[str, str]] = field(default_factory=dict)  # local_id -> (refund id, intent id)
    paid: dict[str, Paid] = field(default_factory=dict)  # intent id -> facts
    refs_used: set[str] = field(default_factory=set)  # merchant_refund_ids of the merchant
    reserved: dict[str, int] = field(default_factory=dict)  # intent id -> refunded earlier in this batch
    accepted: list[tuple[Refund, Transaction]] = field(default_factory=list)

    def refusal(self, r: OfflineRefund, intent_id: str | None, store_id: str) -> Error | None:  # noqa: PLR0911 — one return per refusal code, in the order they are checked
        """Why the refund may not be accepted (a per-item error), or None."""
        found = card_number_field(
            {"refund.reason": r.reason, "refund.merchant_refund_id": r.merchant_refund_id}
        )
        if found is not None:
            return _error(CARD_NUMBER_REFUSED, CARD_MESSAGE, found)
        paid = self.paid.get(intent_id or "")
        if paid is None or paid.store_id != store_id:
            param = (
                "refund.payment_local_id" if r.payment_local_id is not None else "refund.payment_intent_id"
            )
            return _error("payment_not_found", "no such sale of this device's store", param)
        if paid.status is not Status.SUCCEEDED or paid.mode not in SYNC_REFUNDABLE:
            return _error(NOT_REFUNDABLE, f"only succeeded cash and card sales are refunded by sync, not a "
                          f"{paid.mode} payment in {paid.status}", "refund")  # fmt: skip
        if r.currency != paid.currency:
            return _error("currency_mismatch", f"the sale is in {paid.currency}", "refund.currency")
        if r.amount > paid.amount - paid.refunded - self.reserved.get(paid.intent_id, 0):
            return _error(EXCEEDS, "the refund exceeds the amount not yet refunded", "refund.amount")
        if r.merchant_refund_id is not None and r.merchant_refund_id in self.refs_used:
            return _error(REF_IN_USE, "merchant_refund_id was already used", "refund.merchant_refund_id")
        return None

    def accept(self, r: OfflineRefund, intent_id: str, origin: SyncOrigin, ids: tuple[str, str]) -> Refund:
        """Take the refund's amount from its payment and keep the Refund (with its Transaction) to store."""
        paid = self.paid[intent_id]
        at = r.created_at_ms / 1000
        actor = f"device:{origin.device_id}"
        refund = Refund(ids[0], intent_id, paid.merchant_id, r.amount, r.currency, RefundStatus.SUCCEEDED,
                        actor, at, r.reason, r.merchant_refund_id, origin=origin)  # fmt: skip
        self.reserved[intent_id] = self.reserved.get(intent_id, 0) + r.amount
        if r.merchant_refund_id is not None:
            self.refs_used.add(r.merchant_refund_id)
        self.known[r.local_id] = (refund.id, intent_id)
        self.accepted.append((refund, _txn(ids[1], refund, at)))
        return refund
