"""Card numbers (PANs) in free-form data, found so they are refused before they reach disk, a log or the wire.

PCI DSS forbids storing a full primary account number where it is not needed, and this system never needs one:
the card reader reports only a masked number. A value looks like a PAN when it holds a run of 13 to 19 digits
(spaces or dashes allowed between digits) that passes the Luhn check and starts like a card brand's number
(2221–2720, 3, 4, 5, 6). The brand prefix keeps epoch milliseconds and other long integers from matching
(docs/architecture.md, "Card data"). Pure: no I/O, shared by the agent and the cloud.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

# Digits with at most one space or dash between them; 13..19 digits in all.
_RUN = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])")
_MAX_DEPTH = 64
_MAX_SCAN = 1 << 20  # characters looked at per value: inputs are bounded long before this


def luhn_valid(digits: str) -> bool:
    """True if the digit string passes the Luhn (mod 10) check."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _brand_prefix(digits: str) -> bool:
    first = digits[0]
    if first in "3456":
        return True
    return first == "2" and 2221 <= int(digits[:4]) <= 2720


def _candidate(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and _brand_prefix(digits) and luhn_valid(digits)


def text_has_pan(text: str) -> bool:
    """True if `text` holds something that looks like a full card number."""
    for match in _RUN.finditer(text[:_MAX_SCAN]):
        run = match.group().replace(" ", "").replace("-", "")
        # A longer run may hide a PAN at any offset (e.g. "00" + PAN): try every 13..19 window.
        for size in range(13, min(19, len(run)) + 1):
            for start in range(len(run) - size + 1):
                if _candidate(run[start:start + size]):
                    return True
    return False


def _children(value: object, path: str) -> list[tuple[str, object]]:
    if isinstance(value, Mapping):
        out: list[tuple[str, object]] = []
        for key, item in value.items():
            # The path names where the finding is: a key that is itself a card number is shown masked.
            where = f"{path}.{mask_pans(key)}" if isinstance(key, str) else f"{path}[{key!r}]"
            out.append((where, key))  # a key is free-form text too
            out.append((where, item))
        return out
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray)):
        return [(f"{path}[{i}]", item) for i, item in enumerate(value)]
    return []


def find_pan(value: object, path: str = "$", _depth: int = 0) -> str | None:
    """The JSON path of the first string or integer in `value` that looks like a card number, else None.

    Walks dicts (keys too), lists and tuples; bools and floats are not numbers here. Deeper than 64 levels
    counts as a finding ("$…: too deep to check"), so a caller refuses what it cannot inspect.
    """
    if _depth > _MAX_DEPTH:
        return f"{path} (too deep to check)"
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return path if text_has_pan(str(value)) else None
    for where, child in _children(value, path):
        found = find_pan(child, where, _depth + 1)
        if found:
            return found
    return None


def mask_pans(text: str) -> str:
    """`text` with every card-number-looking run replaced by its last four digits behind asterisks."""
    def _mask(match: re.Match[str]) -> str:
        run = match.group().replace(" ", "").replace("-", "")
        return ("*" * (len(run) - 4) + run[-4:]) if text_has_pan(run) else match.group()
    return _RUN.sub(_mask, text)
