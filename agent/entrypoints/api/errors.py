"""One middleware maps every failure to the docs/cloud-api.md JSON error shape: no stack trace, no secret."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from agent.domain.errors import AgentError

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_HTTP_TYPES = {401: "authentication_error", 403: "permission_error", 404: "invalid_request_error",
               429: "rate_limit_error"}


def error_json(status: int, type_: str, code: str, message: str, *, param: str | None = None,
               headers: dict[str, str] | None = None) -> web.Response:
    """A JSON error response of the docs/cloud-api.md shape."""
    error: dict[str, Any] = {"type": type_, "code": code, "message": message}
    if param is not None:
        error["param"] = param
    return web.json_response({"error": error}, status=status, headers=headers)


def validation_response(err: ValidationError) -> web.Response:
    """422 naming the first bad field and why."""
    first = err.errors()[0]
    param = ".".join(str(p) for p in first["loc"]) or None
    message = f"{param}: {first['msg']}" if param else str(first["msg"])
    return error_json(422, "invalid_request_error", "validation_error", message, param=param)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """AgentError → its status; pydantic errors → 422; aiohttp HTTP errors → JSON; anything else → 500."""
    try:
        return await handler(request)
    except AgentError as err:
        headers = {"Retry-After": str(err.retry_after)} if err.retry_after else None
        return web.json_response(err.body(), status=err.status, headers=headers)
    except ValidationError as err:
        return validation_response(err)
    except web.HTTPException as err:
        if err.status < 400:
            raise
        code = err.reason.lower().replace(" ", "_")
        return error_json(err.status, _HTTP_TYPES.get(err.status, "invalid_request_error"), code, err.reason)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_json(500, "api_error", "internal_error", "Something went wrong on the terminal.")
