"""OpenAPI 3.1 of the PaymentIntent API; every schema comes from the pydantic models."""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from cloud.api import devices as dv
from cloud.api import models as m
from cloud.api import money_models as mm
from cloud.api.endpoint import IDEMPOTENCY_KEY_PATTERN, MAX_IDEMPOTENCY_KEY
from cloud.api.settlements import MAX_SETTLEMENT_BODY
from cloud.api.webhooks import MAX_WEBHOOK_BODY
from cloud.domain.intake import MAX_INT
from cloud.domain.webhooks import EventType
from cloud.service.sync_refunds import SyncRefundItem
from cloud.settings import Settings
from sync import models as sm
from sync.wire import MAX_BATCH_BYTES

REF = "#/components/schemas/{model}"
Security = list[dict[str, list[str]]]
HMAC: Security = [{"hmac": []}]
TOKEN_OR_HMAC: Security = [{"hmac": []}, {"payment_token": []}]
ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^pi_[0-9A-Z]{26}$"},
}
IDEMPOTENCY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "Send one per POST you may retry (docs/cloud-api.md#idempotency); another length or "
                   "character, or two of them, is 400 invalid_idempotency_key.",
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY,
               "pattern": IDEMPOTENCY_KEY_PATTERN},
}  # fmt: skip
ERROR = {"$ref": "#/components/responses/Error"}
ERRORS = {str(s): ERROR for s in (400, 401, 403, 404, 409, 422)}
RATE_LIMITED = {"429": {"$ref": "#/components/responses/RateLimited"}}
INTENT_BODY_BYTES = Settings().max_intent_body_bytes


def _too_large(limit: int) -> dict[str, Any]:
    """The 413 answer of a route whose body may be at most `limit` bytes."""
    return {"413": {"description": f"body_too_large: the body is over {limit} bytes",
                    "content": {"application/json": {"schema": _ref(m.ErrorOut)}}}}  # fmt: skip


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _retry_after_response() -> dict[str, Any]:
    return {
        "description": "rate_limited: over a rate limit (docs/cloud-api.md#rate-limits)",
        "headers": {"Retry-After": {"description": "seconds to wait", "required": True,
                                    "schema": {"type": "integer", "minimum": 1}}},
        "content": {"application/json": {"schema": _ref(m.ErrorOut)}},
    }  # fmt: skip


def _op(
    summary: str,
    security: list[dict[str, list[str]]],
    ok: type[BaseModel],
    *,
    status: str = "200",
    body: type[BaseModel] | None = None,
    params: list[dict[str, Any]] | None = None,
    max_body: int = INTENT_BODY_BYTES,
) -> dict[str, Any]:
    """An operation: every authenticated route is rate limited (429); one with a body may be 413."""
    op: dict[str, Any] = {
        "summary": summary,
        "security": security,
        "parameters": params or [],
        "responses": {status: {"description": "OK", "content": {"application/json": {"schema": _ref(ok)}}},
                      **ERRORS, **RATE_LIMITED, **(_too_large(max_body) if body is not None else {})},
    }  # fmt: skip
    if body is not None:
        op["parameters"] = [*op["parameters"], IDEMPOTENCY]
        op["requestBody"] = {"required": False, "content": {"application/json": {"schema": _ref(body)}}}
    return op


def _query_params(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF)
    required = set(schema.get("required", []))
    return [{"name": name, "in": "query", "required": name in required, "schema": prop}
            for name, prop in schema["properties"].items()]  # fmt: skip


def _list_params() -> list[dict[str, Any]]:
    return _query_params(m.ListQuery)


def _webhook_headers() -> list[dict[str, Any]]:
    """The Standard Webhooks headers of every outbound delivery (docs/cloud-api.md#webhooks)."""
    described = {
        "webhook-id": ("the event id (evt_…), stable across retries: dedupe on it", {"type": "string"}),
        "webhook-timestamp": ("unix seconds of this attempt; reject one far from now",
                              {"type": "string", "pattern": "^[0-9]+$"}),
        "webhook-signature": ("space-separated `v1,<base64 HMAC-SHA256 of id.timestamp.body>`, one per live "
                              "secret of the endpoint", {"type": "string"}),
    }
    return [{"name": n, "in": "header", "required": True, "description": d, "schema": sch}
            for n, (d, sch) in described.items()]


def _webhook(event: EventType) -> dict[str, Any]:
    """The POST a partner's endpoint receives for one event type; any 2xx acknowledges it."""
    obj = (_ref(m.PaymentIntentOut) if event.value.startswith("payment_intent.")
           else _ref(mm.RefundOut) if event.value.startswith("refund.") else {"type": "object"})
    body = {"type": "object", "required": ["id", "type", "created", "data"], "properties": {
        "id": {"type": "string", "pattern": "^evt_"}, "type": {"const": event.value},
        "created": {"type": "integer", "description": "unix seconds"},
        "data": {"type": "object", "required": ["object"], "properties": {"object": obj}}}}
    return {"post": {
        "summary": f"{event.value} (signed, docs/cloud-api.md#webhooks)",
        "parameters": _webhook_headers(),
        "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        "responses": {"2XX": {"description": "acknowledged; anything else is retried on schedule"}},
    }}


def _sync_items(defs: dict[str, Any]) -> None:
    """A batch item is a sale (SyncItem, no `kind`) or a refund (SyncRefundItem, `kind: "refund"`) on the same
    chain (docs/sync-protocol.md, "Refund items"). No discriminator: a sale has no `kind` at all; neither
    schema admits extra fields, so exactly one of them matches any item. The bounds the intake adds to the
    models: seq and created_at at most MAX_INT (cloud/domain/intake.py), exactly one payment reference."""
    items = defs["SyncBatch"]["properties"]["items"]
    items["items"] = {"oneOf": [_ref(sm.SyncItem), _ref(SyncRefundItem)],
                      "description": 'a sale (no `kind`) or a refund (`"kind": "refund"`)'}  # fmt: skip
    for name in ("SyncItem", "SyncRefundItem"):
        for field in ("seq", "created_at"):
            defs[name]["properties"][field]["maximum"] = MAX_INT
    defs["SyncRefund"]["oneOf"] = [
        {"required": [key], "properties": {key: {"type": "string"}}}
        for key in ("payment_local_id", "payment_intent_id")
    ]  # exactly one of the two is a string (the other absent or null)


def _settlement_upload() -> dict[str, Any]:
    """201 stored; the same body again answers 200 with the stored settlement (docs/cloud-api.md)."""
    op = _op("Upload a Z report (device credential)", HMAC, mm.SettlementOut, status="201",
             body=mm.SettlementReport, max_body=MAX_SETTLEMENT_BODY)  # fmt: skip
    content = {"application/json": {"schema": _ref(mm.SettlementOut)}}
    op["responses"]["200"] = {"description": "already stored with this body", "content": content}
    return op


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The whole document (built once)."""
    models: list[type[BaseModel]] = [
        m.CreatePaymentIntentRequest, m.ConfirmPaymentIntentRequest, m.CancelPaymentIntentRequest,
        m.EmptyRequest, m.PaymentIntentOut, m.PaymentIntentList, m.ErrorOut,
        dv.ActivateDeviceRequest, dv.ActivateDeviceResponse, dv.DeviceOut, sm.SyncBatch, sm.BatchResponse,
        dv.RotateSecretRequest, dv.RotateSecretResponse,
        mm.CreateRefundRequest, mm.RefundOut, mm.RefundList, mm.SettlementReport, mm.SettlementOut,
        mm.SettlementList, SyncRefundItem,  # the refund item of a sync batch (docs/sync-protocol.md)
    ]  # fmt: skip
    _, defs = models_json_schema([(model, "validation") for model in models], ref_template=REF)
    _sync_items(defs["$defs"])
    pi = "/v1/payment_intents/{id}"
    out = m.PaymentIntentOut
    health = {"summary": "Liveness", "security": [], "responses": {"200": {"description": "ok"}}}
    token_param = {"name": "payment_token", "in": "query", "required": False, "schema": {"type": "string"}}
    paths = {
        "/health": {"get": health},
        "/v1/payment_intents": {
            "post": _op("Create a PaymentIntent", HMAC, out, status="201", body=m.CreatePaymentIntentRequest),
            "get": _op("List PaymentIntents", HMAC, m.PaymentIntentList, params=_list_params()),
        },
        pi: {"get": _op("Retrieve a PaymentIntent", TOKEN_OR_HMAC, out, params=[ID, token_param])},
        f"{pi}/confirm": {
            "post": _op("Confirm", TOKEN_OR_HMAC, out, body=m.ConfirmPaymentIntentRequest, params=[ID])
        },
        f"{pi}/cancel": {
            "post": _op("Cancel", TOKEN_OR_HMAC, out, body=m.CancelPaymentIntentRequest, params=[ID])
        },
        f"{pi}/capture": {"post": _op("Capture", HMAC, out, body=m.EmptyRequest, params=[ID])},
        f"{pi}/sync": {"post": _op("Sync with the provider", HMAC, out, body=m.EmptyRequest, params=[ID])},
        # Refunds and settlements (docs/cloud-api.md#refunds, docs/cloud-api.md#settlements).
        f"{pi}/refunds": {
            "post": _op("Refund (part of) a succeeded PaymentIntent", HMAC, mm.RefundOut, status="201",
                        body=mm.CreateRefundRequest, params=[ID]),
            "get": _op("An intent's refunds, oldest first", HMAC, mm.RefundList,
                       params=[ID, *_query_params(mm.RefundListQuery)]),
        },
        "/v1/settlements": {
            "post": _settlement_upload(),
            "get": _op("A store's settlements, newest first", HMAC, mm.SettlementList,
                       params=_query_params(mm.SettlementQuery)),
        },
        # Device enrollment (docs/cloud-api.md; authorized by the activation code itself) and sync intake
        # (docs/sync-protocol.md).
        "/v1/devices/activate": {"post": {
            **_op("Activate a device with a code", [], dv.ActivateDeviceResponse, status="201",
                  body=dv.ActivateDeviceRequest, max_body=dv.MAX_ACTIVATE_BODY), "parameters": []}},
        "/v1/devices/{id}": {"get": _op("A device and its sync state", HMAC, dv.DeviceOut,
                                        params=[{**ID, "schema": {"type": "string"}}])},
        # Signed by the device itself; idempotent by itself, so no Idempotency-Key
        # (docs/cloud-api.md#rotating-a-device-secret).
        "/v1/devices/{id}/rotate-secret": {"post": {
            **_op("Rotate the device's own secret (the answer carries the new one)", HMAC,
                  dv.RotateSecretResponse, body=dv.RotateSecretRequest, max_body=dv.MAX_ROTATE_BODY),
            "parameters": [{**ID, "schema": {"type": "string"}}]}},
        # Each item a sale (SyncItem) or a refund (SyncRefundItem), on the same chain (_sync_items).
        "/v1/sync/batches": {"post": _op("Upload offline sales and refunds (device credential)", HMAC,
                                         sm.BatchResponse, body=sm.SyncBatch, max_body=MAX_BATCH_BYTES)},
        # Inbound provider callbacks (docs/cloud-api.md#webhooks), verified with the provider's own scheme.
        "/v1/webhooks/{provider}": {"post": {
            "summary": "A provider's payment callback", "security": [],
            "parameters": [{"name": "provider", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "requestBody": {"required": True,
                            "content": {"application/json": {"schema": {"type": "object"}}}},
            "responses": {"200": {"description": "acknowledged (also for an unknown intent)"},
                          "401": ERROR, "404": ERROR, **_too_large(MAX_WEBHOOK_BODY)}}},
    }
    return {
        "openapi": "3.1.0",
        "webhooks": {event.value: _webhook(event) for event in EventType},
        "info": {"title": "mpac-pgw compatible gateway", "version": "0.1.0"},
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "responses": {"Error": {"description": "Error", "content": {"application/json": {
                "schema": _ref(m.ErrorOut)}}}, "RateLimited": _retry_after_response()},
            "securitySchemes": {
                "hmac": {"type": "apiKey", "in": "header", "name": "Authorization",
                         "description": "exactly one header, HMAC-SHA256 <api_key>:<timestamp>:<signature> "
                                        "(docs/cloud-api.md)"},
                "payment_token": {"type": "apiKey", "in": "query", "name": "payment_token",
                                  "description": "or `payment_token` in the JSON body of POSTs"},
            },
        },
    }  # fmt: skip
