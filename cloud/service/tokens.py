"""payment_token minting and hashing: opaque, 192 random bits, only the SHA-256 is ever stored."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "tok_"  # noqa: S105 — a public prefix, not a secret


def mint_token() -> str:
    """A fresh bearer token `tok_…` with 192 bits of randomness."""
    return TOKEN_PREFIX + secrets.token_urlsafe(24)


def hash_token(token: str) -> str:
    """Hex SHA-256 of the token: the only form storage sees."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
