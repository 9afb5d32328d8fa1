"""No full card number (PAN) in a sale (docs/local-web.md, "Card data"): pure rules over `sync.pan`.

A sale's free-form fields (reference, metadata keys and values, receipt line names, a reported card result)
are refused when one looks like a card number. A card reader's own answer is different: it comes after the
card was charged, so refusing it would lose a paid sale; its text fields are stored masked instead.
"""

from __future__ import annotations

import dataclasses

from agent.domain.commands import CreateSale
from agent.domain.errors import SaleRefused
from agent.domain.ports import CardResult
from sync.pan import find_pan, mask_pans

# The customer's QR code of a CPM sale is a payment token for the cloud, never stored by the agent, and some
# wallets' codes are long digit strings: it is not a free-form field.
_NOT_FREE_FORM = {"customer_code"}
_READER_TEXT = ("approval_code", "card_brand", "card_last_4", "decline_reason")


def refuse_card_numbers(cmd: CreateSale) -> None:
    """Raise 422 `card_number_refused` naming the first field that holds a card number (never the number)."""
    found = find_pan(cmd.model_dump(exclude=_NOT_FREE_FORM))
    if found is None:
        return
    param = mask_pans(found.removeprefix("$."))  # a metadata key may itself be the number
    raise SaleRefused("card_number_refused", f"{param} looks like a full card number. A sale never holds "
                      "one: send only the last 4 digits, as card_result.card_last_4.", param=param)


def masked_reader_result(card: CardResult) -> tuple[CardResult, list[str]]:
    """`card` with any card number in its text fields masked, and the names of the fields that held one."""
    held = [name for name in _READER_TEXT if _has_pan(getattr(card, name))]
    if not held:
        return card, []
    masked = dataclasses.replace(card, approval_code=_masked(card.approval_code),
                                 card_brand=_masked(card.card_brand), card_last_4=_masked(card.card_last_4),
                                 decline_reason=_masked(card.decline_reason))
    return masked, held


def _has_pan(value: object) -> bool:
    return isinstance(value, str) and find_pan(value) is not None


def _masked(value: str | None) -> str | None:
    return None if value is None else mask_pans(value)
