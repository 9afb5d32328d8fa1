"""POST /v1/devices/activate (docs/cloud-api.md): an activation code buys a device credential."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cloud.api.auth import authenticate_hmac
from cloud.api.endpoint import Call, Reply, endpoint, read_body
from cloud.api.errors import ApiError, from_validation, json_response
from cloud.api.keys import DEPS, PEER_LIMITS, SETTINGS
from cloud.api.ratelimit import peer, too_many
from cloud.domain.devices import ActivateDevice, ActivationCodeExpired
from cloud.service.devices import activate_device, device_view, rotate_device_secret, view_json

MAX_ACTIVATE_BODY = 4096
MAX_ROTATE_BODY = 256
_NO_STORE = {"Cache-Control": "no-store"}  # an answer that carries a secret


class ActivateDeviceRequest(BaseModel):
    """Body of POST /v1/devices/activate."""

    model_config = ConfigDict(extra="forbid", strict=True)

    code: str = Field(min_length=1, max_length=64)
    serial_number: str = Field(min_length=1, max_length=128)
    model: str = Field(min_length=1, max_length=128)


class ActivateDeviceResponse(BaseModel):
    """201 body: the device credential (secret_key is shown this once; only its SHA-256 is stored)."""

    device_id: str
    api_key: str
    secret_key: str
    merchant_id: str
    store_id: str


class RotateSecretRequest(BaseModel):
    """Body of POST /v1/devices/{id}/rotate-secret: empty, or `{}`."""

    model_config = ConfigDict(extra="forbid", strict=True)


class RotateSecretResponse(BaseModel):
    """200 body: the device's new secret_key (only its SHA-256 is kept, plus a sealed copy until first
    used) and until when the secret that signed the call still works (Unix seconds)."""

    device_id: str
    api_key: str
    secret_key: str
    previous_expires_at: int


class DeviceSyncOut(BaseModel):
    """A device's sync state: chain head, flags, clock offset (server_time - sent_at of its last batch)."""

    last_seq: int
    last_hash: str
    chain_broken: bool
    seq_gaps: int
    anomalies: int
    clock_offset_ms: int | None
    last_batch_id: str | None
    last_batch_at: int | None
    accepted_total: int


class AnomalyOut(BaseModel):
    """One recorded chain or sequence anomaly (the item itself was kept)."""

    kind: str
    local_id: str
    seq: int
    detail: str


class DeviceOut(BaseModel):
    """GET /v1/devices/{id}."""

    device_id: str
    store_id: str
    merchant_id: str
    serial_number: str
    model: str
    status: str
    sync: DeviceSyncOut
    anomalies: list[AnomalyOut]


async def activate(request: web.Request) -> web.Response:
    """Validate, redeem the code, answer 201 with the credential (404 / 409 / 410 for bad codes).

    Every attempt counts against its source address, before the body is read (docs/cloud-api.md#rate-limits):
    the code is the only credential here, so guessing must stay slow."""
    wait = await request.app[PEER_LIMITS].activations.check(peer(request), request.app[DEPS].clock())
    if wait is not None:
        raise too_many(wait, "too many activation attempts from this address")
    body = await read_body(request, MAX_ACTIVATE_BODY)
    try:
        parsed = ActivateDeviceRequest.model_validate_json(body or b"{}")
    except ValidationError as err:
        raise from_validation(err) from err
    deps = request.app[DEPS]
    cmd = ActivateDevice(parsed.code, parsed.serial_number, parsed.model)
    try:
        made = await activate_device(cmd, devices=deps.devices, tenants=deps.tenants, clock=deps.clock)
    except ActivationCodeExpired as err:
        raise ApiError(410, err.code, err.message, param=err.param) from err
    d = made.device
    payload: dict[str, Any] = ActivateDeviceResponse(
        device_id=d.id, api_key=made.api_key, secret_key=made.secret_key, merchant_id=d.merchant_id,
        store_id=d.store_id,
    ).model_dump()  # fmt: skip
    return json_response(201, payload)


@endpoint()
async def show_device(call: Call) -> Reply:
    """GET /v1/devices/{id}: the device and its sync state, for its partner / merchant / store or itself."""
    view = await device_view(call.request.match_info["id"], call.credential(), devices=call.deps.devices,
                             sync=call.deps.uow().sync)  # fmt: skip
    return Reply(200, view_json(view))


async def rotate_secret(request: web.Request) -> web.Response:
    """POST /v1/devices/{id}/rotate-secret, signed by the device itself (docs/cloud-api.md#rotating-a-device-
    secret). Not under @endpoint: its Idempotency-Key records would store the new secret in the clear; the
    call is idempotent by itself (a retry signed with the old secret gets the same new one)."""
    app = request.app
    deps = app[DEPS]
    body = await read_body(request, MAX_ROTATE_BODY)
    credential = await authenticate_hmac(request, body, deps, app[SETTINGS].hmac_window_seconds,
                                         app[PEER_LIMITS].bad_signatures, idempotency_key=None)  # fmt: skip
    try:
        RotateSecretRequest.model_validate_json(body or b"{}")
    except ValidationError as err:
        raise from_validation(err) from err
    if deps.secrets is None:
        raise ApiError(503, "rotation_unavailable", "this gateway cannot rotate secrets", type_="api_error")
    device_id = request.match_info["id"]
    made = await rotate_device_secret(device_id, credential, secrets=deps.secrets, now=deps.clock())
    payload = RotateSecretResponse(
        device_id=device_id, api_key=made.api_key, secret_key=made.secret_key,
        previous_expires_at=int(made.previous_expires_at),
    ).model_dump()  # fmt: skip
    return json_response(200, payload, _NO_STORE)


def setup_routes(app: web.Application) -> None:
    """Register the device routes."""
    app.router.add_post("/v1/devices/activate", activate)
    app.router.add_post("/v1/devices/{id}/rotate-secret", rotate_secret)
    app.router.add_get("/v1/devices/{id}", show_device)
