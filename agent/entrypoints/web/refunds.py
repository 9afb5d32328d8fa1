"""/api/sales/{local_id}/refunds: a refund approved with the store manager's PIN (POST), the sale's refunds
(GET) — docs/local-web.md "Refunds", docs/settlement.md "Refunds".

The PIN is the admin password of the status page, checked by its gate with the same lockout as the Z report,
before the sale is looked up. JSON and same-origin only, like every state change (the app's guards).
"""

from __future__ import annotations

from aiohttp import web

from agent.domain.commands import CreateRefund
from agent.domain.errors import AgentError
from agent.domain.refund import ReturnedLine
from agent.entrypoints.api.body import json_object
from agent.entrypoints.web.context import WEB_STATE, agent_ctx, available
from agent.services.refunds import RefundService

NO_STORE = {"Cache-Control": "no-store"}


def _service(request: web.Request) -> RefundService:
    return available(agent_ctx(request).refunds, "refunds_unavailable",
                     "返品はこの端末で使えません Refunds are not available on this terminal.")


def _sale_id(request: web.Request) -> str:
    local_id = request.match_info["local_id"]
    if len(local_id) > 64:
        raise AgentError("sale_not_found", "No sale with that local_id.", param="local_id", status=404)
    return local_id


async def create_refund(request: web.Request) -> web.Response:
    """POST — 201 the refund (an amount, or items: lines of the sale), committed (queued for sync, or made on
    the cloud for QR) before printing; 200 the first one again for a retry under the same
    merchant_refund_id."""
    body = CreateRefund.model_validate(await json_object(request))
    service = _service(request)
    local_id = _sale_id(request)
    await request.app[WEB_STATE].gate.check(body.password)
    items = [ReturnedLine(i.line, i.quantity) for i in body.items]
    refund, created = await service.refund(local_id, body.amount, body.reason, body.merchant_refund_id, items)
    return web.json_response(refund, status=201 if created else 200, headers=NO_STORE)


async def list_refunds(request: web.Request) -> web.Response:
    """GET — the sale's refunds, oldest first, with their sync state (a rejected one with its error)."""
    data = await _service(request).of_sale(_sale_id(request))
    return web.json_response({"object": "list", "data": data}, headers=NO_STORE)


def setup_refund_routes(app: web.Application) -> None:
    """Register the refund routes."""
    app.router.add_post("/api/sales/{local_id}/refunds", create_refund)
    app.router.add_get("/api/sales/{local_id}/refunds", list_refunds)
