"""Payloads of the card reader protocol (docs/card-reader-protocol.md), pydantic-validated; no card number."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from drivers.cardreader.result import EntryMethod

MsgId = Annotated[str, Field(min_length=1, max_length=64)]
# Free text from the reader: no control characters (they would reach logs, receipts and the status page).
_TEXT = r"^[^\x00-\x1f\x7f-\x9f]*$"


class _Msg(BaseModel):
    # extra="forbid": a reader that sends a card number (or anything unexpected) is refused, not stored.
    # strict: the JSON types are exact (no "12" or true for an amount), so what is accepted is unambiguous.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Sale(_Msg):
    """Host asks for a sale."""

    t: Literal["sale"] = "sale"
    id: MsgId
    amount: Annotated[int, Field(gt=0)]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class Cancel(_Msg):
    """Host asks to stop the sale."""

    t: Literal["cancel"] = "cancel"
    id: MsgId


class Ping(_Msg):
    """Host asks whether the reader is there and listening; the reader's ACK is the answer."""

    t: Literal["ping"] = "ping"


class Presented(_Msg):
    """Reader: a card was presented."""

    t: Literal["presented"] = "presented"
    id: MsgId
    entry: EntryMethod


class Result(_Msg):
    """Reader: the authorization result (last 4 digits only)."""

    t: Literal["result"] = "result"
    id: MsgId
    status: Literal["approved", "declined"]
    approval_code: Annotated[str | None, Field(pattern=r"^[A-Z0-9]{1,8}$")] = None
    brand: Annotated[str | None, Field(max_length=16, pattern=_TEXT)] = None
    last4: Annotated[str | None, Field(pattern=r"^[0-9]{4}$")] = None
    entry: EntryMethod | None = None
    reason: Annotated[str | None, Field(max_length=64, pattern=_TEXT)] = None


class Cancelled(_Msg):
    """Reader: the sale was stopped before authorization."""

    t: Literal["cancelled"] = "cancelled"
    id: MsgId


AnyMessage = Sale | Cancel | Ping | Presented | Result | Cancelled
Message = Annotated[AnyMessage, Field(discriminator="t")]
_ADAPTER: TypeAdapter[AnyMessage] = TypeAdapter(Message)


class InvalidMessage(ValueError):
    """The payload is not a valid message; the text never includes the payload (it may hold card data)."""


def dump(msg: _Msg) -> bytes:
    """Compact JSON bytes of a message."""
    return msg.model_dump_json(exclude_none=True).encode()


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate key")  # which value would count is ambiguous: refuse the message
    return obj


def load(payload: bytes) -> AnyMessage:
    """Parse and validate a payload; raises InvalidMessage without echoing its content."""
    try:
        return _ADAPTER.validate_python(json.loads(payload.decode("utf-8"), object_pairs_hook=_unique_keys))
    except (ValueError, RecursionError) as err:
        # ValueError covers bad UTF-8, bad JSON, duplicate keys, pydantic's ValidationError and an integer
        # too long for int() (over 4300 digits).
        kind = type(err).__name__
    # Raised outside the except block so no exception context keeps the offending input alive.
    raise InvalidMessage(f"invalid card reader message ({kind})")
