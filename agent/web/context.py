"""Shared state of the web handlers: the dependencies the app factory passes in, and JSON error mapping."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from aiohttp import web

from agent.devices.print_queue import JobState
from agent.errors import AgentError
from agent.web.admin import AdminGate

if TYPE_CHECKING:
    from agent.devices import Devices
    from agent.settings import Settings
    from agent.uploader import SyncService

HELD_STATES: tuple[JobState, ...] = ("held", "failed")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _nothing() -> None:
    return None


@dataclass(frozen=True, slots=True)
class WebDeps:
    """What the pages need; services are getters because the app opens them later, in its cleanup_ctx."""

    settings: Settings
    credentials_dir: Path | None = None
    sync: Callable[[], SyncService | None] = field(default=_nothing)
    devices: Callable[[], Devices | None] = field(default=_nothing)


@dataclass(frozen=True, slots=True)
class WebState:
    """Everything the handlers share, stored under WEB_STATE."""

    deps: WebDeps
    gate: AdminGate
    templates: jinja2.Environment


WEB_STATE = web.AppKey("agent_web_state", WebState)


def json_errors(handler: Handler) -> Handler:
    """Map AgentError to its DESIGN §4 JSON answer (with Retry-After when given)."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except AgentError as err:
            headers = {"Retry-After": str(err.retry_after)} if err.retry_after else None
            return web.json_response(err.body(), status=err.status, headers=headers)

    return wrapped


async def device_view(deps: WebDeps) -> dict[str, Any]:
    """Device health and the held/failed print jobs (what the cashier may reprint or drop)."""
    devices = deps.devices()
    if devices is None:
        return {"devices": {}, "print_jobs": []}
    jobs = []
    if devices.printer is not None:
        try:
            jobs = [asdict(j) for j in await devices.printer.queue.jobs(50, HELD_STATES)]
        except RuntimeError:  # the print queue is not open yet (agent still starting)
            jobs = []
    return {"devices": devices.manager.health_json(), "print_jobs": jobs}
