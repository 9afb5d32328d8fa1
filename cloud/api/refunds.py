"""Refund endpoints of docs/cloud-api.md#refunds: create and list an intent's refunds (HMAC: the partner's or
a device's credential)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from cloud.api.bodies import load_bounded
from cloud.api.endpoint import Call, Reply, endpoint
from cloud.api.money_models import CreateRefundRequest, RefundListQuery
from cloud.api.query import parse_query
from cloud.domain.refunds import Refund, refund_object
from cloud.service import refunds as r


def refund_json(refund: Refund) -> dict[str, Any]:
    """The public JSON of a refund (the shape of RefundOut; the same object refund.* webhook events carry)."""
    return refund_object(refund)


# A cash or card refund commits in the request's unit with its Idempotency-Key record; a QR refund commits
# before and after its provider call in units of its own (cloud/service/refunds.py).
@endpoint()
async def create_refund(call: Call) -> Reply:
    """POST /v1/payment_intents/{id}/refunds."""
    load_bounded(call.body or b"{}")
    body = call.parse(CreateRefundRequest)
    cmd = r.CreateRefund(call.request.match_info["id"], body.amount, body.reason, body.merchant_refund_id)
    d = call.deps
    refund = await r.create_refund(cmd, call.credential(), uow=call.uow, new_unit=d.uow, tenants=d.tenants,
                                   providers=d.providers, clock=d.clock)  # fmt: skip
    return Reply(201, refund_json(refund))


@endpoint()
async def list_refunds(call: Call) -> Reply:
    """GET /v1/payment_intents/{id}/refunds?limit=…&starting_after=…"""
    q = parse_query(call.request, RefundListQuery)
    found, more = await r.list_refunds(call.request.match_info["id"], call.credential(), uow=call.uow,
                                       clock=call.deps.clock, limit=q.limit,
                                       starting_after=q.starting_after)  # fmt: skip
    return Reply(200, {"object": "list", "data": [refund_json(x) for x in found], "has_more": more})


def setup_routes(app: web.Application) -> None:
    """Register the refund routes."""
    app.router.add_post("/v1/payment_intents/{id}/refunds", create_refund)
    app.router.add_get("/v1/payment_intents/{id}/refunds", list_refunds)
