"""Shared state of the web handlers and what they read from the agent's context.

Everything comes from the Deps the app factory stores under `api.keys.DEPS`, read at request
time (services are opened later, in the app's cleanup context).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import jinja2
from aiohttp import web

from agent.adapters.devices.printer import PrinterService
from agent.deps import Deps
from agent.entrypoints.api.keys import DEPS
from agent.entrypoints.web.admin import AdminGate
from agent.services.print_queue import JobState

HELD_STATES: tuple[JobState, ...] = ("held", "failed")


@dataclass(frozen=True, slots=True)
class WebState:
    """What the web handlers share, stored under WEB_STATE."""

    gate: AdminGate
    templates: jinja2.Environment


WEB_STATE = web.AppKey("agent_web_state", WebState)


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
    """Device health and the held/failed print jobs (what the cashier may reprint or drop)."""
    jobs: list[dict[str, Any]] = []
    printer = printer_service(ctx)
    if printer is not None:
        try:
            jobs = [asdict(j) for j in await printer.queue.jobs(50, HELD_STATES)]
        except RuntimeError:  # the print queue is not open yet (agent still starting)
            jobs = []
    return {"devices": device_health(ctx), "print_jobs": jobs}
