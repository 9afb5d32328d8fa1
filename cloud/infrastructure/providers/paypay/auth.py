"""PayPay's `hmac OPA-Auth` request signature (docs/providers.md#opa-auth), for the adapter and the simulator.

    Authorization: hmac OPA-Auth:<api_key>:<mac>:<nonce>:<epoch>:<hash>
    hash = base64(md5(content_type + body))      or "empty" when there is no body (content_type "empty" too)
    mac  = base64(hmac_sha256(api_secret, resource \\n method \\n nonce \\n epoch \\n content_type \\n hash))

`resource` is the request path without the query string. Secrets are only ever used as HMAC keys here;
they are never part of a message, an error or a log line.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

SCHEME = "hmac OPA-Auth"
EMPTY = "empty"


@dataclass(frozen=True, slots=True)
class OpaAuth:
    """The fields of one parsed Authorization header."""

    api_key: str
    mac: str
    nonce: str
    epoch: int
    body_hash: str


def body_hash(content_type: str, body: bytes | None) -> str:
    """base64 MD5 of the content type followed by the body; "empty" for a request without a body."""
    if body is None:
        return EMPTY
    digest = hashlib.md5(content_type.encode("utf-8") + body, usedforsecurity=False).digest()
    return base64.b64encode(digest).decode("ascii")


def mac(
    secret: str, *, resource: str, method: str, nonce: str, epoch: int, content_type: str, hashed: str
) -> str:
    """base64 HMAC-SHA256 of the newline-joined fields."""
    message = "\n".join([resource, method.upper(), nonce, str(epoch), content_type, hashed])
    digest = hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def sign(
    api_key: str,
    secret: str,
    *,
    method: str,
    resource: str,
    body: bytes | None,
    content_type: str,
    epoch: int,
    nonce: str | None = None,
) -> str:
    """The Authorization header value for one request (a fresh 8-character nonce unless one is given)."""
    nonce = nonce if nonce is not None else secrets.token_hex(4)
    ctype = content_type if body is not None else EMPTY
    hashed = body_hash(ctype, body)
    signature = mac(secret, resource=resource, method=method, nonce=nonce, epoch=epoch, content_type=ctype,
                    hashed=hashed)  # fmt: skip
    return f"{SCHEME}:{api_key}:{signature}:{nonce}:{epoch}:{hashed}"


def parse(header: str) -> OpaAuth | None:
    """The header's fields, or None when it is not a well-formed OPA-Auth header."""
    if not header.startswith(SCHEME + ":"):
        return None
    parts = header[len(SCHEME) + 1 :].split(":")
    if len(parts) != 5 or not all(parts):
        return None
    api_key, signature, nonce, epoch, hashed = parts
    if not epoch.isdigit() or len(epoch) > 12:
        return None
    return OpaAuth(api_key, signature, nonce, int(epoch), hashed)


def verify(
    auth: OpaAuth,
    secret: str,
    *,
    method: str,
    resource: str,
    body: bytes | None,
    content_type: str | None,
) -> bool:
    """Whether the header was made with `secret` over exactly this request (compared in constant time)."""
    ctype = (content_type or EMPTY) if body else EMPTY
    hashed = body_hash(ctype, body if body else None)
    expected = mac(secret, resource=resource, method=method, nonce=auth.nonce, epoch=auth.epoch,
                   content_type=ctype, hashed=hashed)  # fmt: skip
    if hashed != auth.body_hash:  # the body hash is no secret (anyone with the body has it); the mac is
        return False
    expected_mac, given_mac = expected.encode("ascii"), auth.mac.encode("utf-8", "replace")
    return hmac.compare_digest(expected_mac, given_mac)
