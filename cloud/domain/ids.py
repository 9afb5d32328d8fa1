"""Prefixed ULID identifiers and id validation."""

from __future__ import annotations

import re

from ulid import ULID

PAYMENT_INTENT = "pi"
TRANSACTION = "txn"
CLIENT_PARTNER = "cp"
MERCHANT = "mer"
STORE = "str"
PROVIDER_CONFIG = "spc"
DEVICE = "dev"

_ULID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def new_id(prefix: str) -> str:
    """`<prefix>_` + a fresh ULID (time-ordered, 128 bits)."""
    return f"{prefix}_{ULID()}"


def is_valid_id(value: str, prefix: str) -> bool:
    """True if value is `<prefix>_` followed by a canonical 26-character ULID."""
    head, sep, tail = value.partition("_")
    return sep == "_" and head == prefix and _ULID_RE.match(tail) is not None
