"""`POST /api/sync` ("sync now"): drain at once and answer sent/acked/rejected/duplicates/pending."""

from __future__ import annotations

from aiohttp import web

from agent.domain.errors import UpstreamUnavailable
from agent.entrypoints.api.body import json_object
from agent.entrypoints.api.keys import DEPS

routes = web.RouteTableDef()


@routes.post("/api/sync")
async def sync_now(request: web.Request) -> web.Response:
    """Run a bounded drain now; 503 with the reason when this terminal does not sync."""
    await json_object(request, empty_ok=True)  # no parameters: an empty body or {}
    service = request.app[DEPS].sync
    if service is None or service.uploader is None:
        reason = service.disabled_reason if service is not None else "sync is not running"
        raise UpstreamUnavailable("sync_unavailable", f"Sync is not running on this terminal: {reason}.")
    return web.json_response({"object": "sync_result", **await service.sync_now()})
