"""No card number in free-form input (docs/architecture.md, "Card data"): the rule both the PaymentIntent
commands and the sync intake apply before anything is stored."""

from __future__ import annotations

from collections.abc import Mapping

from cloud.domain.errors import ValidationFailed
from sync.pan import find_pan, mask_pans

CARD_NUMBER_REFUSED = "card_number_refused"
MESSAGE = "a card number is never accepted here; send only the last 4 digits"


def card_number_field(fields: Mapping[str, object]) -> str | None:
    """The path of the first field (keys included) that holds something like a card number, else None;
    a card number inside the path itself (a key) is masked to its last four digits."""
    for name, value in fields.items():
        if value is None:
            continue
        found = find_pan(value, name)
        if found is not None:
            return mask_pans(found)
    return None


def refuse_card_numbers(fields: Mapping[str, object]) -> None:
    """ValidationFailed (422 card_number_refused, naming the field, never the value) for a PAN."""
    found = card_number_field(fields)
    if found is not None:
        raise ValidationFailed(MESSAGE, code=CARD_NUMBER_REFUSED, param=found)
