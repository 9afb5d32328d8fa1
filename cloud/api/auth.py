"""HMAC-SHA256 (docs/cloud-api.md) and payment_token authentication."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace

from aiohttp import web

from cloud.api.errors import ApiError
from cloud.api.ratelimit import Limiter, peer, too_many
from cloud.deps import Deps
from cloud.domain.errors import Conflict
from cloud.domain.ports import AcceptedSignature, UnitOfWork
from cloud.domain.tenants import Credential, SecretSlot, TokenPrincipal
from cloud.service.tokens import TOKEN_PREFIX, hash_token
from sync import signing

AUTH = "authentication_error"
REPLAYED = "replayed_request"
_DUMMY = "0" * 64  # the key hash checked when there is none, so every failure costs the same


def unauthorized(code: str, message: str) -> ApiError:
    """401 with a stable code; never echoes the presented secret material."""
    return ApiError(401, code, message, type_=AUTH)


def _authorization(request: web.Request) -> signing.ParsedAuthorization:
    """The one Authorization header, parsed strictly; several headers are refused, never one picked."""
    values = request.headers.getall("Authorization", [])
    if len(values) > 1:
        raise unauthorized("invalid_authorization", "send exactly one Authorization header")
    try:
        return signing.parse_authorization(values[0] if values else "")
    except signing.SignatureFormatError as err:
        raise unauthorized("invalid_authorization", str(err)) from err


async def authenticate_hmac(
    request: web.Request, body: bytes, deps: Deps, window: int, bad_signatures: Limiter,
    *, idempotency_key: str | None,
) -> Credential:  # fmt: skip
    """Verify the Authorization header; refuse bad format, unknown key, skew, bad signature, replay.

    A source address past its limit of wrong signatures is refused with 429 before anything is checked, so
    guessing learns nothing more (docs/cloud-api.md#rate-limits)."""
    source, now = peer(request), deps.clock()
    wait = await bad_signatures.wait(source, now)
    if wait is not None:
        raise too_many(wait, "too many requests with a wrong signature from this address")
    parsed = _authorization(request)
    if not signing.within_window(parsed.timestamp, now, window):
        raise unauthorized("timestamp_out_of_window", f"timestamp must be within {window} s of server time")
    credential = await deps.credentials.resolve(parsed.api_key)
    # The path as sent on the wire (percent-encoding intact), without the query string.
    slot = _signed_with(credential, parsed, request.method, request.rel_url.raw_path, body, now)
    if credential is None or slot is None:
        await bad_signatures.count(source, now)
        raise unauthorized("invalid_signature", "the signature does not match this request")
    if not credential.active:
        raise ApiError(403, "credential_suspended", "this credential is suspended", type_="permission_error")
    if deps.secrets is not None:
        await deps.secrets.mark_used(credential, slot, now)
    if slot is not SecretSlot.CURRENT:
        credential = replace(credential, signed_with=slot)
    if request.method == "POST":
        expires = parsed.timestamp + 2 * window  # past the last moment the timestamp passes the window check
        await refuse_replay(deps, AcceptedSignature(_sha256(parsed.signature), _key_hash(idempotency_key),
                                                    expires))  # fmt: skip
    return credential


def _signed_with(  # noqa: PLR0917 -- the request's parts, as signing.verify takes them
    credential: Credential | None, parsed: signing.ParsedAuthorization, method: str, path: str, body: bytes,
    now: float,
) -> SecretSlot | None:  # fmt: skip
    """Which live secret signed the request, or None. Both secrets are always checked (a dummy hash stands in
    for an unknown key or no previous secret), so the time taken tells nothing (docs/cloud-api.md)."""
    previous = credential.previous_live(now) if credential else None
    current = credential.secret_key_hash if credential else _DUMMY
    current_ok = signing.verify(current, parsed, method, path, body)
    previous_ok = signing.verify(previous or _DUMMY, parsed, method, path, body)
    if credential is None:
        return None
    if current_ok:
        return SecretSlot.CURRENT
    return SecretSlot.PREVIOUS if previous_ok and previous is not None else None


async def refuse_replay(deps: Deps, accepted: AcceptedSignature) -> None:
    """Record a first acceptance; a signature seen before passes only with the very Idempotency-Key it was
    first accepted with (idempotency then answers it), any other replay is 401 (docs/cloud-api.md#replays)."""
    now = deps.clock()
    uow = deps.uow()
    try:
        async with uow:
            await uow.replays.add(accepted, now)
            await uow.commit()
    except Conflict as err:
        if err.code != REPLAYED:
            raise
    else:
        return
    first = await uow.replays.get(accepted.signature_hash, now)
    presented = accepted.key_hash
    same_key = (first is not None and first.key_hash is not None and presented is not None
                and hmac.compare_digest(first.key_hash, presented))  # fmt: skip
    if not same_key:
        raise unauthorized(REPLAYED, "this signed request was already accepted; sign again")


async def purge_replays(*, uow: UnitOfWork, now: float) -> None:
    """Forget accepted signatures whose timestamps can no longer pass the window, in one unit."""
    async with uow:
        await uow.replays.purge(now)
        await uow.commit()


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _key_hash(key: str | None) -> str | None:
    return None if key is None else _sha256(key)


async def authenticate_token(token: object, deps: Deps) -> TokenPrincipal:
    """Resolve a payment_token to the one intent it is bound to."""
    if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX) or len(token) > 128:
        raise unauthorized("invalid_payment_token", "payment_token is missing or malformed")
    bound = await deps.uow().intents.token_intent(hash_token(token), deps.clock())
    if bound is None:
        raise unauthorized("invalid_payment_token", "payment_token is unknown or expired")
    return TokenPrincipal(*bound)
