"""Request and response models of refunds and settlements (docs/cloud-api.md#refunds, #settlements); they
validate input and generate the OpenAPI schemas, as cloud/api/models.py does for intents."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cloud.api.models import MAX_AMOUNT, Currency, Strict, Text

MAX_COUNT = 10**9
ULID = "[0-9A-HJKMNP-TV-Z]{26}"
SETTLEMENT_ID = rf"^st_{ULID}$"
Amount = Annotated[int, Field(ge=0, le=MAX_AMOUNT)]
Signed = Annotated[int, Field(ge=-MAX_AMOUNT, le=MAX_AMOUNT)]  # a difference: may be below zero
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
Millis = Annotated[int, Field(ge=0, le=10**14)]
Label = Annotated[str, Field(min_length=1, max_length=64)]


class CreateRefundRequest(Strict):
    """POST /v1/payment_intents/{id}/refunds."""

    amount: Annotated[int, Field(gt=0, le=MAX_AMOUNT, description="minor units, at most what is left")]
    reason: Text | None = None
    merchant_refund_id: Text | None = None


class RefundOut(BaseModel):
    """A refund (times are Unix seconds)."""

    object: Literal["refund"]
    id: str
    payment_intent_id: str
    amount: int
    currency: str
    reason: str | None
    merchant_refund_id: str | None
    status: Literal["pending", "succeeded", "failed"]
    created: int


class RefundListQuery(BaseModel):
    """GET /v1/payment_intents/{id}/refunds query."""

    model_config = ConfigDict(extra="forbid")

    limit: Annotated[int, Field(ge=1, le=100)] = 100
    starting_after: Annotated[str, Field(pattern=rf"^re_{ULID}$")] | None = None


class RefundList(BaseModel):
    """An intent's refunds, oldest first."""

    object: Literal["list"]
    data: list[RefundOut]
    has_more: bool


class _Report(BaseModel):
    """Strict types for the fields the cloud reads; other fields are kept as the device sent them."""

    model_config = ConfigDict(extra="allow", strict=True)


class Block(_Report):
    """A count and a sum of one kind of takings."""

    transaction_count: Count
    total_amount: Amount


class CardBlock(Block):
    """Card takings, with their brands."""

    by_brand: dict[Label, Block] = Field(default_factory=dict, max_length=100)


class QrBlock(Block):
    """QR takings, with their methods (or providers)."""

    by_method: dict[Label, Block] = Field(default_factory=dict, max_length=100)


class Breakdown(_Report):
    """Succeeded sales per method."""

    cash: Block
    credit_card: CardBlock
    qr: QrBlock


class RefundMethods(_Report):
    """Refunds per method."""

    cash: Block
    credit_card: Block
    qr: Block


class RefundTotals(Block):
    """The day's refunds."""

    by_method: RefundMethods


class SettlementReport(_Report):
    """POST /v1/settlements: the device's stored Z report (docs/settlement.md) with its refunds."""

    object: Literal["settlement"]
    type: Literal["z"]
    settlement_id: Annotated[str, Field(pattern=SETTLEMENT_ID)]
    z_number: Annotated[int, Field(ge=1, le=MAX_COUNT)]
    business_date: Annotated[str, Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    device_id: Annotated[str, Field(min_length=1, max_length=64)]
    currency: Currency
    start_time: Millis
    end_time: Millis
    payment_method_breakdown: Breakdown
    total_transactions: Count
    total_amount: Amount
    refunds: RefundTotals
    net_amount: Signed
    cash_expected: Signed
    cash_actual: Amount
    cash_discrepancy: Signed
    failed_transactions: Count
    other_currencies: dict[Annotated[str, Field(pattern=r"^[A-Z]{3}$")], Block] = Field(
        default_factory=dict, max_length=50
    )


class SettlementOut(BaseModel):
    """A stored settlement (received: Unix seconds); report is the body as uploaded."""

    object: Literal["settlement"]
    id: str
    merchant_store_id: str
    device_id: str
    z_number: int
    business_date: str
    received: int
    report: dict[str, Any]


class SettlementList(BaseModel):
    """A store's settlements, newest first."""

    object: Literal["list"]
    data: list[SettlementOut]
    has_more: bool


class SettlementQuery(BaseModel):
    """GET /v1/settlements query."""

    model_config = ConfigDict(extra="forbid")

    merchant_store_id: Text
    merchant_id: Text | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20
