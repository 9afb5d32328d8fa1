"""Every error as the JSON of docs/cloud-api.md, mapped once from domain, aiohttp and pydantic errors."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from pydantic import ValidationError

from cloud.domain import errors as d

log = logging.getLogger("cloud.api")

_DOMAIN_STATUS: list[tuple[type[d.DomainError], int, str]] = [
    (d.NotFound, 404, "invalid_request_error"),
    (d.InvalidState, 409, "invalid_request_error"),
    (d.Conflict, 409, "invalid_request_error"),
    (d.ValidationFailed, 422, "invalid_request_error"),
    (d.Forbidden, 403, "permission_error"),
    (d.ProviderUnavailable, 503, "api_error"),
    (d.ProviderError, 502, "api_error"),
    (d.StorageUnavailable, 503, "api_error"),
]


class ApiError(Exception):
    """An error response decided at the HTTP layer (auth, idempotency, limits, query strings)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        type_: str = "invalid_request_error",
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.type, self.param = status, code, message, type_, param
        self.headers = headers or {}


def error_body(type_: str, code: str, message: str, param: str | None = None) -> dict[str, object]:
    """The `{"error": {...}}` envelope."""
    return {"error": {"type": type_, "code": code, "message": message, "param": param}}


def json_response(status: int, payload: object, headers: dict[str, str] | None = None) -> web.Response:
    """Compact JSON response."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return web.Response(status=status, body=body, content_type="application/json", headers=headers)


def from_validation(err: ValidationError) -> ApiError:
    """The first pydantic error, as 400 (not JSON) or 422 (JSON with wrong fields)."""
    first = err.errors(include_url=False, include_input=False)[0]
    param = ".".join(str(p) for p in first["loc"]) or None
    kind = first["type"]
    if kind == "json_invalid":
        return ApiError(400, "invalid_json", "the body is not valid JSON")
    code = {"extra_forbidden": "unknown_parameter", "missing": "parameter_missing"}.get(
        kind, "invalid_parameter"
    )
    return ApiError(422, code, f"{param or 'body'}: {first['msg']}", param=param)


def to_api_error(exc: BaseException) -> ApiError:
    """Map any exception the handlers may raise to one ApiError (unknown ones to a bare 500)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, ValidationError):
        return from_validation(exc)
    if isinstance(exc, d.DomainError):
        # A database or provider that is away or busy is worth a retry soon
        # (docs/operations.md#running-on-postgresql, docs/providers.md#cancel).
        away = isinstance(exc, d.StorageUnavailable | d.ProviderUnavailable)
        retry = {"Retry-After": "1"} if away else None
        for kind, status, type_ in _DOMAIN_STATUS:
            if isinstance(exc, kind):
                return ApiError(status, exc.code, exc.message, type_=type_, param=exc.param, headers=retry)
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return ApiError(413, "body_too_large", "the request body is too large")
    if isinstance(exc, web.HTTPException):
        # aiohttp's 405 carries the route's methods in Allow; the answer keeps it (docs/cloud-api.md#errors).
        allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return ApiError(exc.status, _http_code(exc.status), exc.reason, headers=allow)
    log.exception("unhandled error", exc_info=exc)
    return ApiError(500, "internal_error", "internal error", type_="api_error")


def _http_code(status: int) -> str:
    return {404: "route_not_found", 405: "method_not_allowed"}.get(status, "http_error")


def error_response(exc: BaseException) -> web.Response:
    """The JSON error response for an exception."""
    api = to_api_error(exc)
    return json_response(api.status, error_body(api.type, api.code, api.message, api.param), api.headers)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every failure, including aiohttp's own 404/405/413, into docs/cloud-api.md JSON."""
    try:
        return await handler(request)
    except Exception as exc:
        return error_response(exc)
