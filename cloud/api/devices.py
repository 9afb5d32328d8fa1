"""POST /v1/devices/activate (docs/cloud-api.md): an activation code buys a device credential."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cloud.api.endpoint import Call, Reply, endpoint, read_body
from cloud.api.errors import ApiError, from_validation, json_response
from cloud.api.keys import DEPS, PEER_LIMITS
from cloud.api.ratelimit import peer, too_many
from cloud.domain.devices import ActivateDevice, ActivationCodeExpired
from cloud.service.devices import activate_device, device_view, view_json

MAX_ACTIVATE_BODY = 4096


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


def setup_routes(app: web.Application) -> None:
    """Register the device routes."""
    app.router.add_post("/v1/devices/activate", activate)
    app.router.add_get("/v1/devices/{id}", show_device)
