"""GET /api/status: queue, caps, store health, plus the blocks plug-ins register (sync, devices)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from agent import __version__
from agent.deps import Deps
from agent.entrypoints.api.keys import DEPS

routes = web.RouteTableDef()

async def build_status(ctx: Deps) -> dict[str, Any]:
    """Everything a store manager needs to judge the offline risk, as JSON."""
    store = ctx.store
    caps = ctx.settings.offline
    now = ctx.clock_ms()
    pending = await store.pending()
    counts = await store.status()
    oldest_age_s = None if pending.oldest_ms is None else max(0, now - pending.oldest_ms) / 1000
    body: dict[str, Any] = {
        "object": "status",
        "version": __version__,
        "device": {"serial": ctx.settings.agent.serial, "enrolled": ctx.credentials is not None,
                   "device_id": ctx.credentials.device_id if ctx.credentials else None,
                   "state_dir": str(ctx.settings.agent.state_dir)},  # doctor/status: is this MY agent?
        "store": {"name": ctx.settings.store.name, "writable": store.writer.last_error is None,
                  "last_error": store.writer.last_error},
        "queue": {"depth": pending.count, "pending_amount": dict(pending.amounts),
                  "oldest_pending_at": pending.oldest_ms, "oldest_pending_age_s": oldest_age_s,
                  "by_sync_state": counts["by_sync_state"], "last_seq": counts["last_seq"]},
        "last_sync_at": counts["last_synced_at"],
        "caps": {
            "max_sale_amount": caps.max_sale_amount,
            "count": {"used": pending.count, "limit": caps.max_count},
            "total": {cur: {"used": pending.amounts.get(cur, 0), "limit": caps.max_total_amount}
                      for cur in ctx.settings.store.currencies},
            "oldest_age_s": {"used": oldest_age_s, "limit": caps.max_age_hours * 3600},
        },
        "uptime_s": max(0, now - ctx.started_at_ms) / 1000,
    }
    for key, provider in ctx.status_providers.items():
        body[key] = await provider()
    return body


@routes.get("/api/status")
async def status(request: web.Request) -> web.Response:
    """Queue depth, pending amount per currency, oldest pending age, last sync, caps usage."""
    return web.json_response(await build_status(request.app[DEPS]))
