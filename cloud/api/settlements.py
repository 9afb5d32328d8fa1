"""Settlement endpoints of docs/cloud-api.md#settlements: a device uploads a Z report; a partner lists a
store's."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from cloud.api.bodies import load_bounded
from cloud.api.endpoint import Call, Reply, endpoint
from cloud.api.money_models import SettlementQuery, SettlementReport
from cloud.api.query import parse_query
from cloud.domain.settlements import Settlement
from cloud.service import settlements as s

MAX_SETTLEMENT_BODY = 64 * 1024


def settlement_json(st: Settlement) -> dict[str, Any]:
    """The public JSON of a stored settlement (the shape of SettlementOut)."""
    return {
        "object": "settlement",
        "id": st.settlement_id,
        "merchant_store_id": st.store_code,
        "device_id": st.device_id,
        "z_number": st.z_number,
        "business_date": st.business_date,
        "received": int(st.received_at),
        "report": dict(st.report),
    }


# own_units: a lost insert race is read back and answered in the handler (cloud/service/settlements.py).
@endpoint(max_body=MAX_SETTLEMENT_BODY, own_units=True)
async def upload(call: Call) -> Reply:
    """POST /v1/settlements (device credential)."""
    report = load_bounded(call.body or b"{}")
    call.parse(SettlementReport)
    d = call.deps
    stored, created = await s.upload_settlement(report, call.credential(), uow=call.uow, tenants=d.tenants,
                                                clock=d.clock)  # fmt: skip
    return Reply(201 if created else 200, settlement_json(stored))


@endpoint()
async def list_settlements(call: Call) -> Reply:
    """GET /v1/settlements?merchant_store_id=…&limit=…"""
    q = parse_query(call.request, SettlementQuery)
    found, more = await s.list_settlements(q.merchant_store_id, q.merchant_id, q.limit, call.credential(),
                                           uow=call.uow, tenants=call.deps.tenants)  # fmt: skip
    return Reply(200, {"object": "list", "data": [settlement_json(x) for x in found], "has_more": more})


def setup_routes(app: web.Application) -> None:
    """Register the settlement routes."""
    app.router.add_post("/v1/settlements", upload)
    app.router.add_get("/v1/settlements", list_settlements)
