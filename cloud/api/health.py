"""GET /health and GET /openapi.json (no auth)."""

from __future__ import annotations

from aiohttp import web

from cloud.api.errors import json_response
from cloud.api.openapi import openapi_document


async def health(request: web.Request) -> web.Response:
    """Liveness: the process answers."""
    return json_response(200, {"status": "ok"})


async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 document generated from the pydantic models."""
    return json_response(200, openapi_document())


def setup_routes(app: web.Application) -> None:
    """Register /health and /openapi.json."""
    app.router.add_get("/health", health)
    app.router.add_get("/openapi.json", openapi)
