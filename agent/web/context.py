"""Shared state of the web handlers and what they read from the agent's context.

Everything comes from the AgentContext the app factory stores under `agent.api.keys.CTX`, read at request
time (services are opened later, in the app's cleanup contexts). Device health and print queues are found
by duck typing on the adapters the device layer plugged in (`.link.health()`, PrinterService).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

import jinja2
from aiohttp import web

from agent.api.keys import CTX
from agent.context import AgentContext
from agent.devices.print_queue import JobState
from agent.devices.printer import PrinterService
from agent.web.admin import AdminGate

HELD_STATES: tuple[JobState, ...] = ("held", "failed")


class SyncNow(Protocol):
    """The uploader's "sync now" (agent.uploader.SyncService)."""

    async def sync_now(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class WebState:
    """What the web handlers share, stored under WEB_STATE."""

    gate: AdminGate
    templates: jinja2.Environment


WEB_STATE = web.AppKey("agent_web_state", WebState)


def agent_ctx(request: web.Request) -> AgentContext:
    """The agent's context."""
    return request.app[CTX]


def sync_service(ctx: AgentContext) -> SyncNow | None:
    """The running uploader, if the sync layer put one on the context (None when not enrolled)."""
    service = getattr(ctx, "sync", None)
    return service if service is not None and hasattr(service, "sync_now") else None


def printer_service(ctx: AgentContext) -> PrinterService | None:
    """The receipt printer adapter with its durable queue, if one is configured."""
    printer = ctx.devices.printer
    return printer if isinstance(printer, PrinterService) else None


def device_health(ctx: AgentContext) -> dict[str, dict[str, Any]]:
    """Health per device name, from every adapter that keeps a supervised link."""
    found: dict[str, dict[str, Any]] = {}
    for adapter in (ctx.devices.printer, ctx.devices.scanner, ctx.devices.card_reader):
        link = getattr(adapter, "link", None)
        if link is not None and callable(getattr(link, "health", None)):
            health = link.health()
            found[health.name] = asdict(health)
    return found


async def device_view(ctx: AgentContext) -> dict[str, Any]:
    """Device health and the held/failed print jobs (what the cashier may reprint or drop)."""
    jobs: list[dict[str, Any]] = []
    printer = printer_service(ctx)
    if printer is not None:
        try:
            jobs = [asdict(j) for j in await printer.queue.jobs(50, HELD_STATES)]
        except RuntimeError:  # the print queue is not open yet (agent still starting)
            jobs = []
    return {"devices": device_health(ctx), "print_jobs": jobs}
