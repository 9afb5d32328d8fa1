"""/api/settlement: the X report (GET, changes nothing), the Z report (POST, the store manager's PIN) and
the recent Z reports (GET) — docs/settlement.md.

The PIN is the admin password of the status page, checked by its gate with the same lockout
(docs/local-web.md), before the day is closed. JSON and same-origin only, like every state change.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from agent.entrypoints.api.body import json_object
from agent.entrypoints.web.context import WEB_STATE, agent_ctx, available
from agent.services.settlement import SettlementService

NO_STORE = {"Cache-Control": "no-store"}


class CloseDay(BaseModel):
    """Body of POST /api/settlement/z: the manager's PIN and the counted cash, in minor units."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    password: str = Field(default="", max_length=256, repr=False)
    cash_counted: StrictInt = Field(ge=0, le=10**10)


def _service(request: web.Request) -> SettlementService:
    return available(agent_ctx(request).settlement, "settlement_unavailable",
                     "精算はこの端末で使えません Settlement is not available on this terminal.")


async def x_report(request: web.Request) -> web.Response:
    """GET /api/settlement/x — the open business day's figures."""
    return web.json_response(await _service(request).x_report(), headers=NO_STORE)


async def z_reports(request: web.Request) -> web.Response:
    """GET /api/settlement/z — the newest Z reports, with their sync state."""
    data = await _service(request).reports()
    return web.json_response({"object": "list", "data": data}, headers=NO_STORE)


async def close_day(request: web.Request) -> web.Response:
    """POST /api/settlement/z {password, cash_counted} — 201 the Z report, stored before it is printed."""
    body = CloseDay.model_validate(await json_object(request))
    service = _service(request)
    await request.app[WEB_STATE].gate.check(body.password)
    report = await service.close_day(body.cash_counted)
    return web.json_response(report, status=201, headers=NO_STORE)


def setup_settlement_routes(app: web.Application) -> None:
    """Register the settlement routes."""
    app.router.add_get("/api/settlement/x", x_report)
    app.router.add_get("/api/settlement/z", z_reports)
    app.router.add_post("/api/settlement/z", close_day)
