"""The request pipeline every authenticated endpoint shares: body limit -> auth -> rate limit -> idempotency.

Usage: `@endpoint(token=True)` over `async def handler(call: Call) -> Reply`. Device enrollment and sync batch
routes reuse it (an HMAC device credential is just another Credential).

Every request runs in a unit of work the endpoint opens (`call.uow`) and hands to the service handler, which
opens it too and commits; as the enclosing block, the endpoint makes that commit the real one after it has
added the Idempotency-Key record (if the request carries a key) to the same unit. So a create, its
Transaction and its stored response commit together or not at all (docs/cloud-api.md), with or without a key.
`own_units=True` is for a handler that commits units itself (the batch intake retries a lost race with a fresh
unit): its record then follows in a unit of its own.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel

from cloud.api.auth import authenticate_hmac, authenticate_token, unauthorized
from cloud.api.errors import ApiError, error_body, json_response, to_api_error
from cloud.api.keys import DEPS, IN_FLIGHT, LIMITER, PEER_LIMITS, SETTINGS
from cloud.api.ratelimit import too_many
from cloud.deps import Deps
from cloud.domain.errors import DomainError
from cloud.domain.ports import StoredResponse, UnitOfWork
from cloud.domain.tenants import Credential, Principal
from cloud.service.handlers import reissue_token
from cloud.settings import Settings
from sync.telemetry import annotate, enabled, span

M = TypeVar("M", bound=BaseModel)
MAX_IDEMPOTENCY_KEY = 255
# Printable ASCII, 1-255 characters; /openapi.json publishes the same pattern.
IDEMPOTENCY_KEY_PATTERN = rf"^[\x20-\x7e]{{1,{MAX_IDEMPOTENCY_KEY}}}$"
_KEY_RE = re.compile(IDEMPOTENCY_KEY_PATTERN)


@dataclass(frozen=True, slots=True)
class Call:
    """One authenticated request: raw body, caller, the app's settings and dependencies, its unit of work."""

    request: web.Request
    body: bytes
    principal: Principal
    deps: Deps
    settings: Settings
    uow: UnitOfWork

    def parse(self, model: type[M]) -> M:
        """Validate the JSON body (empty means {}) with a pydantic model; errors become 400/422."""
        return model.model_validate_json(self.body or b"{}")

    def credential(self) -> Credential:
        """The HMAC credential; 401 if the caller used a payment_token where HMAC is required."""
        if not isinstance(self.principal, Credential):
            raise unauthorized("hmac_required", "this endpoint needs HMAC-SHA256 authentication")
        return self.principal


@dataclass(frozen=True, slots=True)
class Reply:
    """A handler's answer; `token_intent` marks a create whose replays must mint a fresh payment_token."""

    status: int
    payload: dict[str, Any]
    token_intent: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Call], Awaitable[Reply]]


async def read_body(request: web.Request, limit: int) -> bytes:
    """The raw body, refused with 413 past `limit` bytes (before reading when Content-Length says so)."""
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "body_too_large", f"the body must be at most {limit} bytes")
    body = await request.read()
    if len(body) > limit:
        raise ApiError(413, "body_too_large", f"the body must be at most {limit} bytes")
    return body


def _token_from(request: web.Request, body: bytes) -> object:
    if request.method == "GET":
        return request.query.get("payment_token")
    try:
        data = json.loads(body or b"{}")
    except (ValueError, RecursionError) as err:  # deep nesting raises RecursionError, not ValueError
        raise ApiError(400, "invalid_json", "the body is not valid JSON") from err
    return data.get("payment_token") if isinstance(data, dict) else None


async def authenticate(
    request: web.Request, body: bytes, *, token: bool, idempotency_key: str | None
) -> Principal:
    """HMAC when an Authorization header is sent; otherwise a payment_token where the route allows it."""
    app = request.app
    deps, settings = app[DEPS], app[SETTINGS]
    if "Authorization" in request.headers or not token:
        return await authenticate_hmac(request, body, deps, settings.hmac_window_seconds,
                                       app[PEER_LIMITS].bad_signatures,
                                       idempotency_key=idempotency_key)  # fmt: skip
    return await authenticate_token(_token_from(request, body), deps)


def _idempotency_key(request: web.Request) -> str | None:
    """The POST's one Idempotency-Key (None without one): 1–255 printable ASCII characters, else 400.

    Checked before authentication, because an accepted signature is recorded with its key
    (docs/cloud-api.md#replays)."""
    if request.method != "POST":
        return None
    keys = request.headers.getall("Idempotency-Key", [])
    if not keys:
        return None
    if len(keys) > 1 or _KEY_RE.fullmatch(keys[0]) is None:
        raise ApiError(400, "invalid_idempotency_key",
                       f"send one Idempotency-Key of 1–{MAX_IDEMPOTENCY_KEY} printable ASCII characters")
    return keys[0]


async def _rate_limit(request: web.Request, principal: Principal) -> None:
    if isinstance(principal, Credential):
        key = principal.merchant_id or f"partner:{principal.partner_id}"
    else:
        key = principal.merchant_id
    wait = await request.app[LIMITER].check(key, request.app[DEPS].clock())
    if wait is not None:
        raise too_many(wait, "too many requests for this merchant")


def _tenant_attributes(principal: Principal) -> dict[str, str | None]:
    """Span attributes naming the caller's tenant scope (docs/observability.md#traces)."""
    if isinstance(principal, Credential):
        return {"mpac.partner.id": principal.partner_id, "mpac.merchant.id": principal.merchant_id,
                "mpac.store.id": principal.store_id, "mpac.device.id": principal.device_id}
    return {"mpac.merchant.id": principal.merchant_id, "mpac.intent.id": principal.intent_id}


@dataclass(frozen=True, slots=True)
class _Record:
    """Where and how an Idempotency-Key request's response is recorded."""

    scope: str
    key: str
    digest: str
    now: float
    expired_before: float


def endpoint(
    *, token: bool = False, max_body: int | None = None, own_units: bool = False
) -> Callable[[Handler], Any]:
    """Wrap a Call handler into an aiohttp handler with the shared pipeline."""

    def wrap(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def view(request: web.Request) -> web.Response:
            settings = request.app[SETTINGS]
            body = await read_body(request, max_body or settings.max_intent_body_bytes)
            key = _idempotency_key(request)
            with span("pgw.auth"):
                principal = await authenticate(request, body, token=token, idempotency_key=key)
            if enabled():  # on the request's server span: who called, by tenant ids (never a secret)
                annotate(_tenant_attributes(principal))
            await _rate_limit(request, principal)
            deps = request.app[DEPS]
            call = Call(request, body, principal, deps, settings, deps.uow())
            run = _run_alone if own_units else _run_in_unit
            if key is None:
                return _render(await run(handler, call, None))
            return await _idempotent(call, key, handler, run)

        return view

    return wrap


async def _run_in_unit(handler: Handler, call: Call, record: _Record | None) -> Reply:
    """The handler inside the request's unit, then the record (if any) in the same unit, one commit."""
    uow = call.uow
    async with uow:
        try:
            reply = await handler(call)
        except Exception as exc:
            if record is None:
                raise  # the error middleware answers; the unit's writes are discarded
            await uow.rollback()  # a failed request changes nothing but its record
            reply = _error_reply(exc)
        stored = None if record is None else _to_store(reply, record)
        if record is not None and stored is not None:
            await uow.idempotency.add(record.scope, record.key, stored, record.expired_before)
        try:
            await uow.commit()
        except Exception as exc:  # conflict, stale write, key recorded meanwhile, storage unavailable
            if record is None:
                raise
            reply = _error_reply(exc)
        else:
            return reply
    return await _record_alone(call, reply, record)


async def _run_alone(handler: Handler, call: Call, record: _Record | None) -> Reply:
    """A handler that commits its own units; the record (if any) follows in a unit of its own."""
    if record is None:
        return await handler(call)
    return await _record_alone(call, await _run(handler, call), record)


async def _record_alone(call: Call, reply: Reply, record: _Record) -> Reply:
    """Record the reply in a unit of its own (the error of a unit that failed); its error if that fails."""
    stored = _to_store(reply, record)
    if stored is None:
        return reply
    uow = call.uow
    try:
        async with uow:
            await uow.idempotency.add(record.scope, record.key, stored, record.expired_before)
            await uow.commit()
    except Exception as exc:  # e.g. the key was recorded meanwhile by another process
        return _error_reply(exc)
    return reply


def _render(reply: Reply) -> web.Response:
    # orjson writes the same compact UTF-8 JSON as json_response, ~10x faster (a create body: 7 µs -> 0.6 µs).
    body = orjson.dumps(reply.payload)
    return web.Response(
        status=reply.status, body=body, content_type="application/json", headers=reply.headers
    )


def _scope(principal: Principal) -> str:
    return principal.api_key if isinstance(principal, Credential) else f"token:{principal.intent_id}"


Runner = Callable[[Handler, Call, "_Record | None"], Awaitable[Reply]]


async def _idempotent(call: Call, key: str, handler: Handler, run: Runner) -> web.Response:
    request = call.request
    scope = _scope(call.principal)
    digest = hashlib.sha256(f"{request.method}\n{request.path}\n".encode() + call.body).hexdigest()
    in_flight = request.app[IN_FLIGHT]
    if (scope, key) in in_flight:
        raise _in_flight()
    in_flight.add((scope, key))
    try:
        now = call.deps.clock()
        record = _Record(scope, key, digest, now, now - call.settings.idempotency_ttl_seconds)
        stored = await call.uow.idempotency.get(scope, key, record.expired_before)
        if stored is not None:
            return await _replay(stored, digest, call)
        return _render(await run(handler, call, record))
    finally:
        in_flight.discard((scope, key))


def _in_flight() -> ApiError:
    return ApiError(409, "idempotency_in_flight", "a request with this Idempotency-Key is still in flight",
                    type_="idempotency_error")  # fmt: skip


def _error_reply(exc: Exception) -> Reply:
    api = to_api_error(exc)
    if isinstance(exc, DomainError) and exc.code == "idempotency_in_flight":
        api = _in_flight()  # another process recorded this key between our read and our commit
    return Reply(api.status, error_body(api.type, api.code, api.message, api.param), headers=api.headers)


async def _run(handler: Handler, call: Call) -> Reply:
    try:
        return await handler(call)
    except Exception as exc:
        return _error_reply(exc)


def _to_store(reply: Reply, record: _Record) -> StoredResponse | None:
    if reply.status >= 500 or reply.payload.get("error", {}).get("code") == "idempotency_in_flight":
        return None  # a 5xx is not kept, so a retry can succeed; nor is "in flight", which is not an outcome
    kept = {k: v for k, v in reply.payload.items() if k not in ("payment_token", "payment_token_expires_at")}
    body = orjson.dumps(kept)
    return StoredResponse(record.digest, reply.status, body, reply.token_intent, record.now)


async def _replay(stored: StoredResponse, digest: str, call: Call) -> web.Response:
    if stored.fingerprint != digest:
        raise ApiError(422, "idempotency_key_reused", "this Idempotency-Key was used with another request",
                       type_="idempotency_error")  # fmt: skip
    payload: dict[str, Any] = json.loads(stored.body)
    if stored.token_intent is not None:
        issued = await reissue_token(stored.token_intent, uow=call.uow, clock=call.deps.clock,
                                     token_ttl=call.settings.token_ttl_seconds)  # fmt: skip
        if issued is not None:
            payload["payment_token"] = issued.payment_token
            payload["payment_token_expires_at"] = int(issued.token_expires_at)
    return json_response(stored.status_code, payload, {"Idempotent-Replayed": "true"})
