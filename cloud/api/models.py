"""Request and response models (pydantic v2): they validate input and generate the OpenAPI schemas."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from cloud.domain.currency import DEFAULT_CURRENCY, is_known_currency

MethodName = Literal["qr_mpm", "qr_cpm", "card", "emoney", "cash"]
ModeName = Literal["pgw_processed", "external", "manual"]
StatusName = Literal[
    "requires_payment_method", "requires_action", "processing", "requires_capture", "succeeded", "failed",
    "cancelled",
]  # fmt: skip
MAX_AMOUNT = 10**12
MAX_UNIX_SECONDS = 10**11  # year 5138; also keeps SQLite integers in range
INTENT_ID = r"^pi_[0-9A-HJKMNP-TV-Z]{26}$"


def _currency(value: str) -> str:
    if not is_known_currency(value):
        raise ValueError(f"{value!r} is not an ISO 4217 currency code")
    return value


Text = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$")]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$"), AfterValidator(_currency)]
Metadata = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=40)], Annotated[str, Field(max_length=500)]],
    Field(max_length=50),
]


class Strict(BaseModel):
    """Unknown fields refused, no type coercion (a string is never an amount)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class CreatePaymentIntentRequest(Strict):
    """POST /v1/payment_intents: the API-reference shape (payment_method_types) or the PRD shape."""

    amount: Annotated[int, Field(gt=0, le=MAX_AMOUNT, description="minor units (JPY: yen)")]
    currency: Currency = DEFAULT_CURRENCY
    merchant_ref_id: Text
    payment_method_types: Annotated[list[MethodName], Field(min_length=1, max_length=5)] | None = None
    payment_method_type: MethodName | None = None
    processing_mode: ModeName | None = None
    capture_method: Literal["automatic", "manual"] = "automatic"
    order_id: Text | None = None
    merchant_store_id: Text | None = None
    merchant_id: Text | None = None
    merchant_terminal_id: Text | None = None
    description: Annotated[str, Field(max_length=1000)] | None = None
    expires_in_minutes: Annotated[int, Field(ge=1, le=1440)] = 30
    metadata: Metadata = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_shape(self) -> Self:
        if (self.payment_method_types is None) == (self.payment_method_type is None):
            raise ValueError("send exactly one of payment_method_types or payment_method_type")
        if self.payment_method_types is not None and len(set(self.payment_method_types)) != len(
            self.payment_method_types
        ):
            raise ValueError("payment_method_types must not repeat")
        return self


class CardResultBody(Strict):
    """The result an external card app reports (last 4 digits only, never a full number)."""

    status: Literal["approved", "declined"]
    approval_code: Annotated[str, Field(max_length=32)] | None = None
    card_brand: Annotated[str, Field(max_length=32)] | None = None
    card_last_4: Annotated[str, Field(pattern=r"^[0-9]{4}$")] | None = None
    entry_method: Annotated[str, Field(max_length=32)] | None = None


class ConfirmPaymentIntentRequest(Strict):
    """POST /v1/payment_intents/{id}/confirm."""

    payment_token: str | None = None
    payment_method_type: MethodName | None = None
    customer_code: Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[\x21-\x7e]+$")] | None = (
        None
    )
    card_result: CardResultBody | None = None
    cash_received: Annotated[int, Field(ge=0, le=MAX_AMOUNT)] | None = None


class CancelPaymentIntentRequest(Strict):
    """POST /v1/payment_intents/{id}/cancel."""

    payment_token: str | None = None
    cancellation_reason: Literal["requested_by_customer", "duplicate", "abandoned", "fraudulent"] = (
        "requested_by_customer"
    )


class EmptyRequest(Strict):
    """POST bodies of capture and sync: `{}` or nothing."""


class ListQuery(BaseModel):
    """GET /v1/payment_intents query string (strings coerced to ints here; errors are 400)."""

    model_config = ConfigDict(extra="forbid")

    limit: Annotated[int, Field(ge=1, le=100)] = 10
    starting_after: Annotated[str, Field(pattern=INTENT_ID)] | None = None
    status: StatusName | None = None
    merchant_store_id: Text | None = None
    created_gte: Annotated[int, Field(ge=0, le=MAX_UNIX_SECONDS)] | None = None
    created_lte: Annotated[int, Field(ge=0, le=MAX_UNIX_SECONDS)] | None = None


class CardOut(BaseModel):
    """Card details of an external payment."""

    status: str
    approval_code: str | None = None
    card_brand: str | None = None
    card_last_4: str | None = None
    entry_method: str | None = None


class PaymentIntentOut(BaseModel):
    """A PaymentIntent as every endpoint returns it (times are Unix seconds)."""

    id: str
    object: Literal["payment_intent"]
    status: StatusName
    amount: int
    amount_refunded: int = Field(description="refunded or held by pending refunds (docs/cloud-api.md)")
    currency: str
    payment_method_types: list[MethodName]
    payment_method_type: MethodName | None
    processing_mode: ModeName | None
    capture_method: Literal["automatic", "manual"]
    merchant_ref_id: str
    order_id: str | None
    merchant_id: str
    store_id: str
    merchant_store_id: str
    merchant_terminal_id: str | None
    description: str | None
    metadata: dict[str, str]
    qr_content: str | None
    qr_code_url: str | None
    provider: str | None
    card: CardOut | None
    cash_received: int | None
    change: int | None
    failure_code: str | None
    cancellation_reason: str | None
    created_at: int
    updated_at: int
    expires_at: int
    payment_token: str | None = Field(default=None, description="on create and HMAC retrieve only")
    payment_token_expires_at: int | None = None


class PaymentIntentList(BaseModel):
    """One page of intents, newest first."""

    object: Literal["list"]
    data: list[PaymentIntentOut]
    has_more: bool


class ErrorDetail(BaseModel):
    """What went wrong."""

    type: str
    code: str
    message: str
    param: str | None


class ErrorOut(BaseModel):
    """Every error response."""

    error: ErrorDetail
