"""Shared state of the web handlers and what they read from the agent's context.

Everything comes from the Deps the app factory stores under `api.keys.DEPS`, read at request
time (services are opened later, in the app's cleanup context).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import jinja2
from aiohttp import web

from agent.adapters.devices.printer import PrinterService
from agent.adapters.store.activity import open_print_jobs
from agent.deps import Deps
from agent.domain.errors import AgentError
from agent.entrypoints.api.keys import DEPS
from agent.entrypoints.web.admin import AdminGate
from agent.entrypoints.web.events import EventStreams
from agent.entrypoints.web.logs import RingBufferHandler


@dataclass(frozen=True, slots=True)
class WebState:
    """What the web handlers share, stored under WEB_STATE."""

    gate: AdminGate
    templates: jinja2.Environment
    streams: EventStreams
    log_buffer: RingBufferHandler


WEB_STATE = web.AppKey("agent_web_state", WebState)
T = TypeVar("T")


def available(service: T | None, code: str, message: str) -> T:
    """The service, or a 503 with `code` and the bilingual `message` when this terminal has none."""
    if service is None:
        raise AgentError(code, message, status=503)
    return service


def agent_ctx(request: web.Request) -> Deps:
    """The agent's context."""
    return request.app[DEPS]


def printer_service(ctx: Deps) -> PrinterService | None:
    """The receipt printer adapter with its durable queue, if one is configured."""
    printer = ctx.devices.printer
    return printer if isinstance(printer, PrinterService) else None


def device_health(ctx: Deps) -> dict[str, dict[str, Any]]:
    """Health per device name, from the device manager (empty when no device is configured)."""
    manager = ctx.device_manager
    if manager is None:
        return {}
    health: dict[str, dict[str, Any]] = manager.health_json()
    return health


async def device_view(ctx: Deps) -> dict[str, Any]:
    """Device health and every print job not printed yet: queued (waiting for the printer, e.g. for paper),
    printing, held and failed (what the manager may reprint or drop)."""
    return {"devices": device_health(ctx), "print_jobs": await open_print_jobs(ctx.database)}
