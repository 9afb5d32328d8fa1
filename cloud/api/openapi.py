"""OpenAPI 3.1 of the PaymentIntent API; every schema comes from the pydantic models."""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from cloud.api import devices as dv
from cloud.api import models as m
from sync import models as sm

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
IDEMPOTENCY = {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"}}
ERRORS = {str(s): {"$ref": "#/components/responses/Error"} for s in (400, 401, 403, 404, 409, 413, 422, 429)}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _op(
    summary: str,
    security: list[dict[str, list[str]]],
    ok: type[BaseModel],
    *,
    status: str = "200",
    body: type[BaseModel] | None = None,
    params: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "security": security,
        "parameters": params or [],
        "responses": {status: {"description": "OK", "content": {"application/json": {"schema": _ref(ok)}}},
                      **ERRORS},
    }  # fmt: skip
    if body is not None:
        op["parameters"] = [*op["parameters"], IDEMPOTENCY]
        op["requestBody"] = {"required": False, "content": {"application/json": {"schema": _ref(body)}}}
    return op


def _list_params() -> list[dict[str, Any]]:
    schema = m.ListQuery.model_json_schema(ref_template=REF)
    return [{"name": name, "in": "query", "required": False, "schema": prop}
            for name, prop in schema["properties"].items()]  # fmt: skip


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The whole document (built once)."""
    models: list[type[BaseModel]] = [
        m.CreatePaymentIntentRequest, m.ConfirmPaymentIntentRequest, m.CancelPaymentIntentRequest,
        m.EmptyRequest, m.PaymentIntentOut, m.PaymentIntentList, m.ErrorOut,
        dv.ActivateDeviceRequest, dv.ActivateDeviceResponse, dv.DeviceOut, sm.SyncBatch, sm.BatchResponse,
    ]  # fmt: skip
    _, defs = models_json_schema([(model, "validation") for model in models], ref_template=REF)
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
        # Device enrollment (docs/cloud-api.md; authorized by the activation code itself) and sync intake
        # (docs/sync-protocol.md).
        "/v1/devices/activate": {"post": {
            **_op("Activate a device with a code", [], dv.ActivateDeviceResponse, status="201",
                  body=dv.ActivateDeviceRequest), "parameters": []}},
        "/v1/devices/{id}": {"get": _op("A device and its sync state", HMAC, dv.DeviceOut,
                                        params=[{**ID, "schema": {"type": "string"}}])},
        "/v1/sync/batches": {"post": _op("Upload a batch of offline sales (device credential)", HMAC,
                                         sm.BatchResponse, body=sm.SyncBatch)},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "mpac-pgw compatible gateway", "version": "0.1.0"},
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "responses": {"Error": {"description": "Error", "content": {"application/json": {
                "schema": _ref(m.ErrorOut)}}}},
            "securitySchemes": {
                "hmac": {"type": "apiKey", "in": "header", "name": "Authorization",
                         "description": "HMAC-SHA256 <api_key>:<timestamp>:<signature> (docs/cloud-api.md)"},
                "payment_token": {"type": "apiKey", "in": "query", "name": "payment_token",
                                  "description": "or `payment_token` in the JSON body of POSTs"},
            },
        },
    }  # fmt: skip
