"""Refund items of the sync intake (docs/sync-protocol.md, "Refund items"): their shape, and what the plan
must know before it walks a batch (stored refunds, the payments they refund, merchant_refund_ids in use)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cloud.domain.intake import MAX_INT, CheckedItem, chain_fields
from cloud.domain.ports import PaymentIntentRepository
from cloud.domain.refund_intake import OfflineRefund, Paid, RefundBook
from cloud.domain.refunds import RefundRepository
from sync.models import HEX64, hash_matches

REFUND_KIND = "refund"
LocalId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z\-]+$")]
Text = Annotated[str, Field(min_length=1, max_length=255)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class SyncRefund(_Model):
    """The refund as the device recorded it; exactly one of payment_local_id / payment_intent_id."""

    amount: int = Field(gt=0, le=10**12)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    reason: Text | None = None
    merchant_refund_id: Text | None = None
    payment_local_id: LocalId | None = None
    payment_intent_id: Annotated[str, Field(pattern=r"^pi_[0-9A-HJKMNP-TV-Z]{26}$")] | None = None

    @model_validator(mode="after")
    def _one_payment(self) -> Self:
        if (self.payment_local_id is None) == (self.payment_intent_id is None):
            raise ValueError("send exactly one of payment_local_id and payment_intent_id")
        return self


class SyncRefundItem(_Model):
    """One hash-chained refund of a device."""

    kind: Literal["refund"]
    local_id: LocalId
    seq: int = Field(ge=1)
    created_at: int = Field(ge=0)
    prev_hash: str = Field(pattern=HEX64)
    hash: str = Field(pattern=HEX64)
    refund: SyncRefund


def is_refund(raw: Any) -> bool:
    """True for an item of kind `refund` (an item without `kind` is a sale)."""
    return isinstance(raw, Mapping) and raw.get("kind") == REFUND_KIND


def checked_refund(raw: Mapping[str, Any], local_id: str) -> CheckedItem:
    """Shape and hash of one new refund item, as the plan's plain facts."""
    chain = chain_fields(raw)
    hash_ok = chain is not None and hash_matches(raw)
    try:
        item = SyncRefundItem.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        param = ".".join(str(p) for p in first["loc"]) or None
        error = {"code": "invalid_item", "message": first["msg"], "param": param}
        return CheckedItem(local_id, chain, hash_ok, None, error=error)
    r = item.refund
    refund = OfflineRefund(item.local_id, item.seq, item.created_at, r.amount, r.currency, r.reason,
                           r.merchant_refund_id, r.payment_local_id, r.payment_intent_id)  # fmt: skip
    return CheckedItem(
        local_id, chain if item.seq <= MAX_INT else None, hash_ok, None, item.hash, refund=refund
    )


def claimed(raws: Sequence[Any], key: str) -> list[str]:
    """The string values of `refund.<key>` across the batch's (possibly invalid) refund items."""
    bodies = (r.get("refund") for r in raws if is_refund(r))
    found = (b.get(key) for b in bodies if isinstance(b, Mapping))
    return sorted({x for x in found if isinstance(x, str)})


async def load_book(raws: Sequence[Any], device_id: str, merchant_id: str, sales: Mapping[str, str], *,
                    intents: PaymentIntentRepository, refunds: RefundRepository,
                    local_ids: Sequence[str]) -> RefundBook:  # fmt: skip
    """What the plan needs for the batch's refund items: the device's stored refunds among `local_ids`, the
    intents they may refund (named directly, or as a stored sale in `sales`: local_id -> intent id)."""
    if not any(is_refund(r) for r in raws):
        return RefundBook()
    stored = await refunds.synced(device_id, list(local_ids))
    named = claimed(raws, "payment_intent_id")
    wanted = {*named, *(sales[x] for x in claimed(raws, "payment_local_id") if x in sales)}
    paid: dict[str, Paid] = {}
    for intent_id in sorted(wanted):
        i = await intents.get(intent_id)
        if i is not None:
            paid[i.id] = Paid(i.id, i.merchant_id, i.store_id, i.status, i.amount, i.amount_refunded,
                              i.currency, i.processing_mode)  # fmt: skip
    used = await refunds.refund_ids_in_use(merchant_id, claimed(raws, "merchant_refund_id"))
    return RefundBook({k: (v.id, v.intent_id) for k, v in stored.items()}, paid, used)
