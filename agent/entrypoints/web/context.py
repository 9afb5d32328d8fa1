"""Shared state of the web handlers and what they read from the agent's context.

Everything comes from the AgentContext the app factory stores under `api.keys.CTX`, read at request
time (services are opened later, in the app's cleanup context).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import jinja2
from aiohttp import web

from agent.adapters.devices.printer import PrinterService
from agent.deps import AgentContext
from agent.entrypoints.api.keys import CTX
from agent.entrypoints.web.admin import AdminGate
from agent.services.print_queue import JobState

HELD_STATES: tuple[JobState, ...] = ("held", "failed")


@dataclass(frozen=True, slots=True)
class WebState:
    """What the web handlers share, stored under WEB_STATE."""

    gate: AdminGate
    templates: jinja2.Environment


WEB_STATE = web.AppKey("agent_web_state", WebState)


def agent_ctx(request: web.Request) -> AgentContext:
    """The agent's context."""
    return request.app[CTX]


def printer_service(ctx: AgentContext) -> PrinterService | None:
    """The receipt printer adapter with its durable queue, if one is configured."""
    printer = ctx.devices.printer
    return printer if isinstance(printer, PrinterService) else None


def device_health(ctx: AgentContext) -> dict[str, dict[str, Any]]:
    """Health per device name, from the device manager (empty when no device is configured)."""
    manager = ctx.device_manager
    if manager is None:
        return {}
    health: dict[str, dict[str, Any]] = manager.health_json()
    return health


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
