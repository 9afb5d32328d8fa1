"""HMAC-SHA256 (docs/cloud-api.md) and payment_token authentication."""

from __future__ import annotations

import time
from collections import OrderedDict

from aiohttp import web

from cloud.api.errors import ApiError
from cloud.deps import Deps
from cloud.domain.tenants import Credential, TokenPrincipal
from cloud.service.tokens import TOKEN_PREFIX, hash_token
from sync import signing

AUTH = "authentication_error"


def unauthorized(code: str, message: str) -> ApiError:
    """401 with a stable code; never echoes the presented secret material."""
    return ApiError(401, code, message, type_=AUTH)


class ReplayCache:
    """Signatures of POSTs accepted within the window (in memory, bounded, oldest dropped first)."""

    def __init__(self, window: int, max_entries: int = 500_000) -> None:
        self._window = window
        self._max = max_entries
        self._seen: OrderedDict[str, float] = OrderedDict()

    def seen_before(self, signature: str, now: float) -> bool:
        """Record a signature; True if it was already accepted within the window."""
        while self._seen:
            oldest, at = next(iter(self._seen.items()))
            if at > now - 2 * self._window and len(self._seen) < self._max:
                break
            del self._seen[oldest]
        if signature in self._seen:
            return True
        self._seen[signature] = now
        return False


async def authenticate_hmac(
    request: web.Request, body: bytes, deps: Deps, window: int, replay: ReplayCache, *, idempotent: bool
) -> Credential:
    """Verify the Authorization header; refuse bad format, unknown key, skew, bad signature, replay."""
    try:
        parsed = signing.parse_authorization(request.headers.get("Authorization", ""))
    except signing.SignatureFormatError as err:
        raise unauthorized("invalid_authorization", str(err)) from err
    now = deps.clock()
    if not signing.within_window(parsed.timestamp, now, window):
        raise unauthorized("timestamp_out_of_window", f"timestamp must be within {window} s of server time")
    credential = await deps.credentials.resolve(parsed.api_key)
    # An unknown key is checked against a dummy hash so both failures take the same time.
    key_hash = credential.secret_key_hash if credential else "0" * 64
    # The path as sent on the wire (percent-encoding intact), without the query string.
    valid = signing.verify(key_hash, parsed, request.method, request.rel_url.raw_path, body)
    if credential is None or not valid:
        raise unauthorized("invalid_signature", "the signature does not match this request")
    if not credential.active:
        raise ApiError(403, "credential_suspended", "this credential is suspended", type_="permission_error")
    if request.method == "POST" and not idempotent and replay.seen_before(parsed.signature, time.monotonic()):
        raise unauthorized("replayed_request", "this signed request was already accepted; sign again")
    return credential


async def authenticate_token(token: object, deps: Deps) -> TokenPrincipal:
    """Resolve a payment_token to the one intent it is bound to."""
    if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX) or len(token) > 128:
        raise unauthorized("invalid_payment_token", "payment_token is missing or malformed")
    bound = await deps.uow().intents.token_intent(hash_token(token), deps.clock())
    if bound is None:
        raise unauthorized("invalid_payment_token", "payment_token is unknown or expired")
    return TokenPrincipal(*bound)
