"""/api/sales: create (POST), one (GET /api/sales/{local_id}), list with filters (GET)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from agent.adapters.store.activity import AnySaleFilter, list_all_sales
from agent.domain.commands import CreateRefund, CreateSale
from agent.entrypoints.api.body import json_object
from agent.entrypoints.api.errors import error_json
from agent.entrypoints.api.keys import DEPS

routes = web.RouteTableDef()


class ListQuery(BaseModel):
    """Query string of GET /api/sales; times are unix ms."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    starting_after: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    sync_state: Literal["queued", "sending", "acked", "rejected", "expired"] | None = None
    status: Literal["succeeded", "failed", "cancelled", "requires_payment_method", "requires_action",
                    "processing"] | None = None
    payment_method: Literal["cash", "card", "qr_mpm", "qr_cpm"] | None = None
    created_gte: Annotated[int, Field(ge=0)] | None = None
    created_lte: Annotated[int, Field(ge=0)] | None = None


@routes.post("/api/sales")
async def create_sale(request: web.Request) -> web.Response:
    """Create a sale: 201 when recorded now, 200 when the same merchant_ref_id was already recorded."""
    cmd = CreateSale.model_validate(await json_object(request))
    outcome = await request.app[DEPS].sales.create(cmd)
    return web.json_response(outcome.body, status=201 if outcome.created else 200)


def _sale_or_404(body: dict[str, Any] | None) -> web.Response:
    """The sale as JSON, or the 404 every by-id route gives for an unknown (or over-long) local_id."""
    if body is None:
        return error_json(404, "invalid_request_error", "resource_missing", "No sale with that local_id.",
                          param="local_id")
    return web.json_response(body)


@routes.get("/api/sales/{local_id}")
async def get_sale(request: web.Request) -> web.Response:
    """One sale (cash, card or QR) by its local_id."""
    local_id = request.match_info["local_id"]
    return _sale_or_404(await request.app[DEPS].sales.get(local_id) if len(local_id) <= 64 else None)


@routes.post("/api/sales/{local_id}/cancel")
async def cancel_sale(request: web.Request) -> web.Response:
    """Cancel a QR sale not yet final (stops waiting for a scan; cancels the cloud intent) → 200 the sale."""
    await json_object(request, empty_ok=True)  # no parameters: an empty body or {}
    local_id = request.match_info["local_id"]
    sales = request.app[DEPS].sales
    return _sale_or_404(await sales.cancel(local_id) if len(local_id) <= 64 else None)


@routes.get("/api/sales")
async def list_sales(request: web.Request) -> web.Response:
    """Every sale the terminal took (cash, card, QR MPM/CPM), newest first: {"object": "list", "data": [...],
    "has_more": bool}; `sync_state` only matches cash and card sales (QR sales live on the cloud)."""
    q = ListQuery.model_validate(dict(request.query))
    flt = AnySaleFilter(sync_state=q.sync_state, status=q.status, payment_method=q.payment_method,
                        created_gte=q.created_gte, created_lte=q.created_lte, starting_after=q.starting_after,
                        limit=q.limit)
    sales, has_more = await list_all_sales(request.app[DEPS].database, flt)
    return web.json_response({"object": "list", "data": sales, "has_more": has_more})


@routes.get("/api/openapi.json")
async def openapi(_request: web.Request) -> web.Response:
    """OpenAPI 3.1 of the local sale API, its schemas generated from the pydantic models."""
    sale_schema = CreateSale.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = sale_schema.pop("$defs", {})
    refund_schema = CreateRefund.model_json_schema(ref_template="#/components/schemas/{model}")
    defs |= refund_schema.pop("$defs", {})
    error = {"$ref": "#/components/schemas/Error"}
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "mpac-agent local API", "version": "1"},
        "paths": {
            "/api/sales": {
                "post": {"summary": "Create a sale (cash, card, qr_mpm, qr_cpm); 201 new, 200 replay",
                         "requestBody": {"content": {"application/json": {
                             "schema": {"$ref": "#/components/schemas/CreateSale"}}}},
                         "responses": {"201": {"description": "recorded"}, "200": {"description": "replay"},
                                       **_refusals(error),
                                       "4XX": {"description": "refused", "content": {"application/json": {
                                           "schema": error}}}}},
                "get": {"summary": "Every sale (cash, card, QR), newest first",
                        "parameters": [{"name": name, "in": "query", "schema": prop}
                                       for name, prop in ListQuery.model_json_schema()["properties"].items()],
                        "responses": {"200": {"description": "list"}}},
            },
            "/api/sales/{local_id}": {"get": {"summary": "One sale", "responses": {
                "200": {"description": "sale"}, "404": {"description": "unknown"}}}},
            "/api/sales/{local_id}/cancel": {"post": {
                "summary": "Cancel a QR sale not yet final (409 sale_final / not_cancellable otherwise)",
                "responses": {"200": {"description": "the cancelled sale"}, "404": {"description": "unknown"},
                              **_refusals(error),
                              "409": {"description": "final", "content": {"application/json": {
                                  "schema": error}}}}}},
            "/api/sales/{local_id}/refunds": {
                "post": {"summary": "Refund all or part of a sale with the manager's PIN (201 new, 200 a "
                                    "retry under the same merchant_refund_id; 404, 409, 401/429 PIN, 503 QR "
                                    "offline)",
                         "requestBody": {"content": {"application/json": {
                             "schema": {"$ref": "#/components/schemas/CreateRefund"}}}},
                         "responses": {"201": {"description": "refunded"}, "200": {"description": "replay"},
                                       **_refusals(error)}},
                "get": {"summary": "The sale's refunds, oldest first", "responses": {
                    "200": {"description": "list"}}}},
            "/api/status": {"get": {"summary": "Queue, caps, store, sync", "responses": {
                "200": {"description": "status"}}}},
        },
        "components": {"schemas": {**defs, "CreateSale": sale_schema, "CreateRefund": refund_schema,
                                   "Error": _ERROR_SCHEMA}},
    }
    return web.json_response(doc)


# What every state-changing route refuses before its handler runs (docs/local-web.md, cross-origin requests).
_REFUSALS = {
    "400": "invalid_json (not JSON, not an object) or json_too_deep (nested deeper than 32 levels)",
    "403": "cross_origin_refused: Origin or Sec-Fetch-Site names another site",
    "413": "the body is over 64 KiB",
    "415": "json_required: the body is not Content-Type application/json",
    "422": "invalid field, or card_number_refused (a card number in a free-form field)",
}


def _refusals(error: dict[str, str]) -> dict[str, object]:
    return {code: {"description": text, "content": {"application/json": {"schema": error}}}
            for code, text in _REFUSALS.items()}


_ERROR_SCHEMA = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["type", "code", "message"], "properties": {
        "type": {"type": "string"}, "code": {"type": "string"}, "message": {"type": "string"},
        "param": {"type": "string"}}}},
}
