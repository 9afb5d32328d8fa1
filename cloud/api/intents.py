"""PaymentIntent endpoints of docs/cloud-api.md (create, retrieve, confirm, cancel, list, capture, sync)."""

from __future__ import annotations

from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel

from cloud.api import models as m
from cloud.api.bodies import load_bounded
from cloud.api.endpoint import Call, Reply, endpoint
from cloud.api.keys import DEPS
from cloud.api.metrics import record_create
from cloud.api.query import parse_query
from cloud.api.views import intent_json, issued_json
from cloud.domain import commands as c
from cloud.domain.errors import DomainError
from cloud.domain.intent import CaptureMethod, MethodType, ProcessingMode, Status
from cloud.service import handlers as h
from cloud.service import payments as p
from cloud.service.provider_poll import ProviderPoll

M = TypeVar("M", bound=BaseModel)
# One per app (process): its throttle is shared by every retrieve of this process.
PROVIDER_POLL = web.AppKey("provider_poll", ProviderPoll)


def _parse(call: Call, model: type[M]) -> M:
    """The body through the nesting bound (400 nesting_too_deep), then the model (400/422)."""
    load_bounded(call.body or b"{}")
    return call.parse(model)


@endpoint()
async def create_intent(call: Call) -> Reply:
    """POST /v1/payment_intents."""
    body = _parse(call, m.CreatePaymentIntentRequest)
    types = body.payment_method_types or ([body.payment_method_type] if body.payment_method_type else [])
    cmd = c.CreatePaymentIntent(
        amount=body.amount,
        currency=body.currency,
        payment_method_types=tuple(MethodType(t) for t in types if t is not None),
        merchant_ref_id=body.merchant_ref_id,
        processing_mode=None if body.processing_mode is None else ProcessingMode(body.processing_mode),
        capture_method=CaptureMethod(body.capture_method),
        merchant_store_id=body.merchant_store_id,
        merchant_id=body.merchant_id,
        merchant_terminal_id=body.merchant_terminal_id,
        order_id=body.order_id,
        description=body.description,
        expires_in_minutes=body.expires_in_minutes,
        metadata=body.metadata,
    )
    d = call.deps
    try:
        issued = await h.create_payment_intent(
            cmd, call.credential(), uow=call.uow, tenants=d.tenants, clock=d.clock,
            token_ttl=call.settings.token_ttl_seconds,
        )  # fmt: skip
    except DomainError as err:
        record_create(body.processing_mode, err.code)
        raise
    record_create(body.processing_mode, "created")
    return Reply(201, issued_json(issued), token_intent=issued.intent.id)


@endpoint(token=True)
async def retrieve_intent(call: Call) -> Reply:
    """GET /v1/payment_intents/{id}: the provider's outcome applied first; HMAC callers also receive a fresh
    payment_token."""
    found = await h.retrieve_payment_intent(
        call.request.match_info["id"], call.principal, uow=call.uow, clock=call.deps.clock,
        token_ttl=call.settings.token_ttl_seconds,
        provider_check=call.request.app[PROVIDER_POLL].on_retrieve,
    )  # fmt: skip
    if isinstance(found, h.IssuedIntent):
        return Reply(200, issued_json(found))
    return Reply(200, intent_json(found))


@endpoint(token=True)
async def confirm_intent(call: Call) -> Reply:
    """POST /v1/payment_intents/{id}/confirm."""
    body = _parse(call, m.ConfirmPaymentIntentRequest)
    card = None if body.card_result is None else c.CardResult(**body.card_result.model_dump())
    cmd = c.ConfirmPaymentIntent(
        intent_id=call.request.match_info["id"],
        payment_method_type=None
        if body.payment_method_type is None
        else MethodType(body.payment_method_type),
        customer_code=body.customer_code,
        card_result=card,
        cash_received=body.cash_received,
    )
    d = call.deps
    intent = await p.confirm_payment_intent(
        cmd, call.principal, uow=call.uow, tenants=d.tenants, providers=d.providers, clock=d.clock
    )
    return Reply(200, intent_json(intent))


@endpoint(token=True)
async def cancel_intent(call: Call) -> Reply:
    """POST /v1/payment_intents/{id}/cancel."""
    body = _parse(call, m.CancelPaymentIntentRequest)
    cmd = c.CancelPaymentIntent(call.request.match_info["id"], body.cancellation_reason)
    intent = await h.cancel_payment_intent(cmd, call.principal, uow=call.uow, clock=call.deps.clock,
                                           provider_check=call.request.app[PROVIDER_POLL].before_cancel)
    return Reply(200, intent_json(intent))


@endpoint()
async def capture_intent(call: Call) -> Reply:
    """POST /v1/payment_intents/{id}/capture."""
    _parse(call, m.EmptyRequest)
    cmd = c.CapturePaymentIntent(call.request.match_info["id"])
    intent = await h.capture_payment_intent(cmd, call.credential(), uow=call.uow, clock=call.deps.clock)
    return Reply(200, intent_json(intent))


@endpoint()
async def sync_intent(call: Call) -> Reply:
    """POST /v1/payment_intents/{id}/sync."""
    _parse(call, m.EmptyRequest)
    d = call.deps
    intent = await p.sync_payment_intent(
        c.SyncPaymentIntent(call.request.match_info["id"]), call.credential(),
        uow=call.uow, tenants=d.tenants, providers=d.providers, clock=d.clock,
    )  # fmt: skip
    return Reply(200, intent_json(intent))


def _list_query(call: Call) -> c.ListPaymentIntents:
    q = parse_query(call.request, m.ListQuery)
    return c.ListPaymentIntents(
        limit=q.limit, starting_after=q.starting_after, status=None if q.status is None else Status(q.status),
        merchant_store_id=q.merchant_store_id, created_gte=q.created_gte, created_lte=q.created_lte,
    )  # fmt: skip


@endpoint()
async def list_intents(call: Call) -> Reply:
    """GET /v1/payment_intents."""
    page = await h.list_payment_intents(_list_query(call), call.credential(), intents=call.uow.intents)
    data = [intent_json(i) for i in page.items]
    return Reply(200, {"object": "list", "data": data, "has_more": page.has_more})


def setup_routes(app: web.Application) -> None:
    """Register the PaymentIntent routes (and the provider poll their retrieve and cancel share)."""
    deps = app[DEPS]
    app[PROVIDER_POLL] = ProviderPoll(deps.uow, deps.tenants, deps.providers, deps.clock)
    app.router.add_post("/v1/payment_intents", create_intent)
    app.router.add_get("/v1/payment_intents", list_intents)
    app.router.add_get("/v1/payment_intents/{id}", retrieve_intent)
    app.router.add_post("/v1/payment_intents/{id}/confirm", confirm_intent)
    app.router.add_post("/v1/payment_intents/{id}/cancel", cancel_intent)
    app.router.add_post("/v1/payment_intents/{id}/capture", capture_intent)
    app.router.add_post("/v1/payment_intents/{id}/sync", sync_intent)
