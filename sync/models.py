"""Pydantic v2 models of the sync batch request and response (docs/sync-protocol.md), for both ends.

The cloud validates the envelope first (`SyncBatchEnvelope`, items kept raw) and then each item on its own
(`validate_item`), so one malformed item is `rejected` with a reason while the rest of the batch goes on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sync.wire import MAX_BATCH_ITEMS, item_hash

HEX64 = r"^[0-9a-f]{64}$"
SaleStatus = Literal["succeeded", "failed", "cancelled"]
ResultStatus = Literal["accepted", "duplicate", "rejected"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class SyncIntent(_Model):
    """The sale as the device recorded it, in its final state."""

    amount: int = Field(gt=0, le=10**12)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    processing_mode: str = Field(min_length=1, max_length=64)
    payment_method_type: str = Field(min_length=1, max_length=64)
    merchant_ref_id: str = Field(min_length=1, max_length=255)
    status: SaleStatus
    result: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)


class SyncItem(_Model):
    """One hash-chained sale of a device."""

    local_id: str = Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z\-]+$")
    seq: int = Field(ge=1)
    created_at: int = Field(ge=0)
    prev_hash: str = Field(pattern=HEX64)
    hash: str = Field(pattern=HEX64)
    intent: SyncIntent


class SyncBatch(_Model):
    """The full request body of `POST /v1/sync/batches`, every item validated."""

    batch_id: str = Field(min_length=1, max_length=64)
    device_id: str = Field(min_length=1, max_length=64)
    sent_at: int = Field(ge=0)
    items: list[SyncItem] = Field(max_length=MAX_BATCH_ITEMS)


class SyncBatchEnvelope(BaseModel):
    """The request body with items left raw, for per-item validation on the cloud."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    batch_id: str = Field(min_length=1, max_length=64)
    device_id: str = Field(min_length=1, max_length=64)
    sent_at: int = Field(ge=0)
    items: list[Any] = Field(max_length=MAX_BATCH_ITEMS)


class ItemError(BaseModel):
    """Why one item was rejected (the docs/cloud-api.md error shape)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    type: str = "invalid_request_error"
    code: str
    message: str
    param: str | None = None


class ItemResult(BaseModel):
    """The cloud's verdict on one item, in request order."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    local_id: str
    status: ResultStatus
    payment_intent_id: str | None = None
    refund_id: str | None = None  # re_… for a refund item (docs/sync-protocol.md "Refund items")
    error: ItemError | None = None


class BatchResponse(BaseModel):
    """The 200 response of `POST /v1/sync/batches`."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    batch_id: str
    server_time: int
    results: list[ItemResult]


def validate_item(raw: Any) -> SyncItem | ItemError:
    """One raw item → the model, or the error to answer `rejected` with (never raises)."""
    try:
        return SyncItem.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        param = ".".join(str(p) for p in first["loc"]) or None
        return ItemError(code="invalid_item", message=f"{first['msg']}", param=param)


def hash_matches(raw: Mapping[str, Any]) -> bool:
    """Does the item's `hash` equal sha256(prev_hash + canonical JSON of the rest)?"""
    prev, claimed = raw.get("prev_hash"), raw.get("hash")
    if not isinstance(prev, str) or not isinstance(claimed, str):
        return False
    return item_hash(prev, raw) == claimed


def raw_local_id(raw: Any) -> str:
    """The item's local_id for the result row, even when the item is otherwise malformed."""
    if isinstance(raw, Mapping) and isinstance(raw.get("local_id"), str):
        return str(raw["local_id"])[:64]
    return ""
