"""The agent's local web (docs/local-web.md): cashier screen `/`, status page `/status`, static files, and the
small read-only JSON they need beside the core API (`/api/web/status`, `/api/web/overview`, `/api/web/qr.svg`,
`/api/web/receipt.png`, `/api/web/print_jobs/{job_id}`, the live `/api/web/events`) and `/favicon.ico`.

The app factory calls `setup_routes(app)` once, after storing its Deps under DEPS; errors raised here
are AgentErrors, which the agent's error middleware turns into docs/cloud-api.md JSON. Pages are Jinja2 with
autoescape on, and every dynamic value is set by script through `textContent`, so untrusted text
(merchant references, device errors, cloud messages) is never parsed as HTML. All served locally: no CDN.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web

from agent.adapters.store.activity import last_receipt, print_job_state
from agent.domain.errors import AgentError
from agent.domain.money import format_money
from agent.entrypoints.api.keys import DEPS
from agent.entrypoints.api.status import build_status
from agent.entrypoints.web.actions import admin_action
from agent.entrypoints.web.admin import AdminGate
from agent.entrypoints.web.context import WEB_STATE, WebState, agent_ctx, device_health, device_view
from agent.entrypoints.web.events import EventStreams, stream
from agent.entrypoints.web.logs import RingBufferHandler
from agent.entrypoints.web.overview import build_overview
from agent.entrypoints.web.preview import receipt_png
from agent.entrypoints.web.qr import MAX_QR_CHARS, qr_svg
from agent.entrypoints.web.refunds import setup_refund_routes
from agent.entrypoints.web.settlement import setup_settlement_routes

STATIC_DIR = Path(__file__).parent / "static"
REFRESH_MS = 3000
CARD_BRANDS = ("VISA", "Mastercard", "JCB", "AMEX", "Diners", "Discover", "UnionPay")
# Pages and their scripts come only from this origin; no inline script, no framing (clickjacking of admin).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
NO_STORE = {"Cache-Control": "no-store"}
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


def _templates() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("agent.entrypoints.web", "templates"),
                              autoescape=True, undefined=jinja2.StrictUndefined)


def _page_context(request: web.Request) -> dict[str, Any]:
    settings = agent_ctx(request).settings
    currency = settings.store.currencies[0]
    notes = [n for n in (1000, 5000, 10000) if currency == "JPY"]
    return {"store_name": settings.store.name, "currency": currency, "static": "/static",
            "timezone": settings.store.timezone,
            "zero": format_money(0, currency), "refresh_ms": REFRESH_MS, "refresh_s": REFRESH_MS // 1000,
            "card_brands": CARD_BRANDS,
            "quick_notes": [{"amount": n, "label": format_money(n, currency)} for n in notes]}


async def _render(request: web.Request, name: str, **extra: Any) -> web.Response:
    state = request.app[WEB_STATE]
    html = state.templates.get_template(name).render(**_page_context(request), **extra)
    return web.Response(text=html, content_type="text/html", charset="utf-8", headers=SECURITY_HEADERS)


async def cashier_page(request: web.Request) -> web.Response:
    """GET / — the cashier screen."""
    return await _render(request, "cashier.html")


async def status_page(request: web.Request) -> web.Response:
    """GET /status — the store manager's page (read-only without login)."""
    available = await request.app[WEB_STATE].gate.availability()
    return await _render(request, "status.html", admin_enabled=available.enabled,
                         admin_message=available.message or "")


async def qr_image(request: web.Request) -> web.Response:
    """GET /api/web/qr.svg?data=… — the QR of a qr_content as SVG."""
    data = request.query.get("data", "")
    if not data:
        raise AgentError("parameter_missing", "data is required", param="data")
    if len(data) > MAX_QR_CHARS:
        raise AgentError("parameter_invalid", f"data is longer than {MAX_QR_CHARS} characters",
                         param="data", status=422)
    return web.Response(text=qr_svg(data), content_type="image/svg+xml",
                        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


async def _web_status(request: web.Request) -> dict[str, Any]:
    available = await request.app[WEB_STATE].gate.availability()
    body = await device_view(agent_ctx(request))
    body["admin"] = {"enabled": available.enabled, "message": available.message}
    return body


async def web_status(request: web.Request) -> web.Response:
    """GET /api/web/status — devices, print jobs not printed yet and whether admin actions are available."""
    return web.json_response(await _web_status(request), headers=NO_STORE)


async def overview(request: web.Request) -> web.Response:
    """GET /api/web/overview — identity, today's totals per method, recent sales, 24 h history."""
    return web.json_response(await build_overview(agent_ctx(request)), headers=NO_STORE)


async def receipt_image(request: web.Request) -> web.Response:
    """GET /api/web/receipt.png — the last receipt, drawn from the bytes the printer got."""
    found = await last_receipt(agent_ctx(request).database)
    if found is None:
        raise AgentError("resource_missing", "No receipt has been printed on this terminal yet.", status=404)
    png = await asyncio.to_thread(receipt_png, found[3])
    return web.Response(body=png, content_type="image/png",
                        headers={**NO_STORE, "X-Content-Type-Options": "nosniff", "X-Receipt-Job": found[0]})


async def print_job(request: web.Request) -> web.Response:
    """GET /api/web/print_jobs/{job_id} — one job's state and its printer's health (the cashier's note)."""
    ctx = agent_ctx(request)
    job_id = request.match_info["job_id"]
    job = await print_job_state(ctx.database, job_id) if len(job_id) <= 64 else None
    if job is None:
        raise AgentError("resource_missing", "No print job with that id.", param="job_id", status=404)
    job["printer_health"] = device_health(ctx).get(str(job["printer"]))
    return web.json_response(job, headers=NO_STORE)


async def events(request: web.Request) -> web.StreamResponse:
    """GET /api/web/events — Server-Sent Events of the status page."""
    ctx = agent_ctx(request)

    async def status() -> dict[str, Any]:
        return {"status": await build_status(ctx), "web": await _web_status(request)}

    return await stream(request, request.app[WEB_STATE].streams, status, lambda: build_overview(ctx))


async def favicon(_request: web.Request) -> web.FileResponse:
    """GET /favicon.ico — the pages' icon (an SVG; browsers take it under this name too)."""
    return web.FileResponse(STATIC_DIR / "favicon.svg", headers={"Content-Type": "image/svg+xml",
                                                                 "Cache-Control": "max-age=86400"})


def setup_routes(app: web.Application) -> None:
    """Add the pages, static files and web JSON routes to the agent's app (which already holds DEPS)."""
    deps = app[DEPS]
    gate = AdminGate(deps.settings.agent.state_dir, deps.admin_attempts, deps.clock_ms)
    logs = RingBufferHandler(ZoneInfo(deps.settings.store.timezone))
    state = WebState(gate, _templates(), EventStreams(), logs)
    app[WEB_STATE] = state
    app.on_shutdown.append(state.streams.on_shutdown)
    app.cleanup_ctx.append(lambda _app: _log_buffer(state.log_buffer))
    app.router.add_get("/", cashier_page)
    app.router.add_get("/status", status_page)
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_get("/api/web/status", web_status)
    app.router.add_get("/api/web/overview", overview)
    app.router.add_get("/api/web/events", events)
    app.router.add_get("/api/web/receipt.png", receipt_image)
    app.router.add_get("/api/web/print_jobs/{job_id}", print_job)
    app.router.add_get("/api/web/qr.svg", qr_image)
    app.router.add_post("/api/web/admin/{action}", admin_action)
    setup_settlement_routes(app)
    setup_refund_routes(app)
    app.router.add_static("/static/", STATIC_DIR, name="web_static", append_version=False)


@contextlib.asynccontextmanager
async def _log_buffer(handler: RingBufferHandler) -> AsyncIterator[None]:
    """The recent-log view's handler is on the root logger only while the app runs."""
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
