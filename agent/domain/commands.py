"""The sale and refund commands as the local API takes them (pydantic v2: validation and JSON Schema in one
place)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, model_validator

from agent.domain.invoice import Item
from agent.domain.ports import CardResult

MAX_AMOUNT = 10**10
Ref = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$")]
MetaValue = StrictStr | StrictInt | bool
# A customer-presented QR/barcode as the cloud takes it: printable ASCII, no spaces, bounded
# (docs/cloud-api.md).
CUSTOMER_CODE_PATTERN = r"^[\x21-\x7e]+$"
CUSTOMER_CODE_MAX = 256
CustomerCode = Annotated[str, Field(min_length=1, max_length=CUSTOMER_CODE_MAX,
                                    pattern=CUSTOMER_CODE_PATTERN)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CardResultIn(_Model):
    """What the card reader (or the external card app) answered; never a full card number."""

    status: Literal["approved", "declined"]
    approval_code: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    card_brand: Annotated[str, Field(min_length=1, max_length=20)] | None = None
    card_last_4: Annotated[str, Field(pattern=r"^[0-9]{4}$")] | None = None
    entry_method: Literal["chip", "contactless", "swipe", "manual"] | None = None
    decline_reason: Annotated[str, Field(max_length=200)] | None = None

    @model_validator(mode="after")
    def _approval_code(self) -> CardResultIn:
        if self.status == "approved" and self.approval_code is None:
            raise ValueError("an approved card result needs its approval_code")
        return self

    def to_port(self) -> CardResult:
        """As the port's CardResult."""
        return CardResult(self.status, self.approval_code, self.card_brand, self.card_last_4,
                          self.entry_method, self.decline_reason)


class LineIn(_Model):
    """One receipt line (shown and printed; not part of the synced item)."""

    name: Annotated[str, Field(min_length=1, max_length=64)]
    quantity: Annotated[StrictInt, Field(ge=1, le=10_000)] = 1
    amount: Annotated[StrictInt, Field(ge=0, le=MAX_AMOUNT)]


class ItemIn(_Model):
    """One sold item (docs/receipts.md): tax-inclusive unit price in minor units, quantity, tax rate (10, 8
    or 0 for exempt; another rate is refused by the sale service as `unknown_tax_rate`)."""

    name: Annotated[str, Field(min_length=1, max_length=64)]
    unit_price: Annotated[StrictInt, Field(ge=0, le=MAX_AMOUNT)]
    quantity: Annotated[StrictInt, Field(ge=1, le=10_000)] = 1
    tax_rate: Annotated[StrictInt, Field(ge=-10**6, le=10**6)]  # known rates: checked by the service

    def to_item(self) -> Item:
        """As the domain's Item."""
        return Item(self.name, self.unit_price, self.quantity, self.tax_rate)


class CreateSale(_Model):
    """POST /api/sales. Amounts are integer minor units (JPY: yen)."""

    amount: Annotated[StrictInt, Field(gt=0, le=MAX_AMOUNT)]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = None  # None: the store's first currency
    payment_method: Literal["cash", "card", "qr_mpm", "qr_cpm"]
    merchant_ref_id: Ref | None = None  # the client's idempotency reference; generated when absent
    cash_received: Annotated[StrictInt, Field(ge=0, le=MAX_AMOUNT)] | None = None
    card_result: CardResultIn | None = None
    # qr_cpm: the customer's code; absent → the agent waits for the next scan on the configured scanner.
    customer_code: CustomerCode | None = Field(default=None, repr=False)
    metadata: Annotated[dict[Annotated[str, Field(min_length=1, max_length=40)], MetaValue],
                        Field(max_length=20)] = Field(default_factory=dict)
    lines: Annotated[list[LineIn], Field(max_length=100)] = Field(default_factory=list)
    tax: Annotated[StrictInt, Field(ge=0, le=MAX_AMOUNT)] = 0
    # Items with their tax rates (docs/receipts.md): the amount must be their tax-inclusive sum; not with
    # `lines`/`tax`, which are the receipt lines of a sale without items.
    items: Annotated[list[ItemIn], Field(max_length=100)] = Field(default_factory=list)


class RefundItemIn(_Model):
    """One line of an itemised refund: the 0-based index into the sale's items, how many come back."""

    line: Annotated[StrictInt, Field(ge=0, lt=100)]  # a sale has at most 100 items
    quantity: Annotated[StrictInt, Field(ge=1, le=10_000)]


class CreateRefund(_Model):
    """Body of POST /api/sales/{local_id}/refunds: amount in minor units and/or the items to return (their
    sum is the amount), an optional reason and reference, the store manager's PIN (docs/local-web.md
    "Refunds")."""

    amount: StrictInt | None = Field(default=None, gt=0, le=MAX_AMOUNT)
    items: Annotated[list[RefundItemIn], Field(max_length=100)] = Field(default_factory=list)
    reason: StrictStr | None = Field(default=None, min_length=1, max_length=255)
    # The client's own reference: a retry under it gets the first refund back (200).
    merchant_refund_id: StrictStr | None = Field(default=None, min_length=1, max_length=255,
                                                 pattern=r"^[\x21-\x7e]+$")
    password: str = Field(default="", max_length=256, repr=False)

    @model_validator(mode="after")
    def _amount_or_items(self) -> CreateRefund:
        if self.amount is None and not self.items:
            raise ValueError("send the amount, or the items to return")
        return self
