"""What the host side of a card reader answers for one sale: a frozen value, no card number."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

CardStatus = Literal["approved", "declined"]
EntryMethod = Literal["chip", "contactless", "swipe", "manual"]


@dataclass(frozen=True, slots=True)
class CardResult:
    """What a card reader answers for one sale. Never a full card number: last 4 digits only."""

    status: CardStatus
    approval_code: str | None
    card_brand: str | None
    card_last_4: str | None
    entry_method: EntryMethod | None
    decline_reason: str | None = None
