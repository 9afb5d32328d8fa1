"""HMAC-SHA256 request signing exactly as mpac-pgw (docs/cloud-api.md).

Both ends use this module: the cloud to verify, the agent (and tests, benchmarks) to sign at send time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

SCHEME = "HMAC-SHA256"
MAX_SKEW_SECONDS = 300
# Exactly one form per request: one space after the scheme, no other blank, a timestamp without leading zeros,
# lower-case hex, three fields (docs/cloud-api.md#authentication-hmac-sha256).
_HEADER_RE = re.compile(r"HMAC-SHA256 ([A-Za-z0-9_\-]{1,128}):(0|[1-9][0-9]{0,11}):([0-9a-f]{64})")


class SignatureFormatError(ValueError):
    """The Authorization header is not `HMAC-SHA256 <api_key>:<timestamp>:<hex signature>`."""


@dataclass(frozen=True, slots=True)
class ParsedAuthorization:
    """The three fields of an HMAC Authorization header."""

    api_key: str
    timestamp: int
    signature: str


def secret_key_hash(secret_key: str) -> str:
    """Hex SHA-256 of the secret: the only form the server stores, and the HMAC key itself."""
    return hashlib.sha256(secret_key.encode("utf-8")).hexdigest()


def string_to_sign(method: str, path: str, timestamp: int, body: bytes) -> bytes:
    """METHOD \\n PATH \\n TIMESTAMP \\n hex(sha256(BODY)), no trailing newline."""
    body_hash = hashlib.sha256(body).hexdigest()
    return f"{method.upper()}\n{path}\n{timestamp}\n{body_hash}".encode("ascii")


def sign_with_key_hash(key_hash: str, method: str, path: str, timestamp: int, body: bytes) -> str:
    """Signature from the stored secret_key_hash (the ASCII hex is the HMAC key)."""
    message = string_to_sign(method, path.split("?", 1)[0], timestamp, body)
    return hmac.new(key_hash.encode("ascii"), message, hashlib.sha256).hexdigest()


def sign(secret_key: str, method: str, path: str, timestamp: int, body: bytes) -> str:
    """Signature a client computes from its secret key."""
    return sign_with_key_hash(secret_key_hash(secret_key), method, path, timestamp, body)


def authorization_header(  # noqa: PLR0917 -- the docs/cloud-api.md fields, in their documented order
    api_key: str, secret_key: str, method: str, path: str, timestamp: int, body: bytes
) -> str:
    """The full `Authorization` header value for one request."""
    signature = sign(secret_key, method, path, timestamp, body)
    return f"{SCHEME} {api_key}:{timestamp}:{signature}"


def parse_authorization(value: str) -> ParsedAuthorization:
    """Parse the header strictly (nothing stripped, nothing before or after) or raise SignatureFormatError;
    the error never echoes the value back."""
    match = _HEADER_RE.fullmatch(value)
    if match is None:
        raise SignatureFormatError("Authorization must be 'HMAC-SHA256 <api_key>:<timestamp>:<signature>'")
    return ParsedAuthorization(match.group(1), int(match.group(2)), match.group(3))


def verify(
    key_hash: str, parsed: ParsedAuthorization, method: str, path: str, body: bytes
) -> bool:
    """Constant-time check of a parsed header against the stored key hash."""
    expected = sign_with_key_hash(key_hash, method, path, parsed.timestamp, body)
    return hmac.compare_digest(expected, parsed.signature)


def within_window(timestamp: int, now: float, window: int = MAX_SKEW_SECONDS) -> bool:
    """|now - timestamp| <= window seconds."""
    return abs(now - timestamp) <= window
