"""Test/demo control of the simulator provider, mounted only with `mpac-pgw serve --simulator-routes`.

POST /_simulator/payment_intents/{id}/pay | /fail marks the intent's provider reference, like a customer's
phone would; `POST /v1/payment_intents/{id}/sync` then reads it back. No auth, so even when mounted it answers
loopback peers only (403 for any other): docs/cloud-api.md, "QR providers".
"""

from __future__ import annotations

import ipaddress

from aiohttp import web

from cloud.api.errors import ApiError, json_response
from cloud.api.keys import DEPS
from cloud.domain.ids import PAYMENT_INTENT, is_valid_id
from cloud.domain.provider_ports import ProviderStatus
from cloud.infrastructure.providers.simulator import UnknownCode

_OUTCOMES = {"pay": ProviderStatus.SUCCEEDED, "fail": ProviderStatus.FAILED}


def loopback_peer(remote: str | None) -> bool:
    """Is the TCP peer address a loopback address (127.0.0.0/8, ::1, ::ffff:127.x)?"""
    try:
        address = ipaddress.ip_address((remote or "").split("%", 1)[0])
    except ValueError:  # None, a unix socket, anything that is not an IP address
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


async def mark(request: web.Request) -> web.Response:
    """Mark the provider reference of an intent paid or failed (loopback peers only)."""
    if not loopback_peer(request.remote):
        raise ApiError(403, "forbidden", "the simulator routes answer loopback clients only",
                       type_="permission_error")  # fmt: skip
    deps = request.app[DEPS]
    intent_id, outcome = request.match_info["id"], request.match_info["outcome"]
    intent = await deps.uow().intents.get(intent_id) if is_valid_id(intent_id, PAYMENT_INTENT) else None
    if intent is None or intent.provider_ref is None or deps.simulator is None:
        raise ApiError(404, "resource_missing", "no simulator code for this payment_intent", param="id")
    try:
        deps.simulator.mark(intent.provider_ref, _OUTCOMES[outcome])
    except UnknownCode as err:
        raise ApiError(404, "resource_missing", "the simulator did not issue this code", param="id") from err
    # Like a real provider, the simulator then tells the gateway by webhook (docs/cloud-api.md#webhooks).
    config = await deps.tenants.get_provider_config(intent.store_id, "simulator")
    hook = f"{request.scheme}://{request.host}/v1/webhooks/simulator"
    answered = await deps.simulator.notify(intent.id, intent.provider_ref, config, hook, now=deps.clock())
    return json_response(
        200, {"payment_intent": intent.id, "reference": intent.provider_ref, "marked": outcome,
              "webhook_status": answered},
    )  # fmt: skip


def setup_routes(app: web.Application) -> None:
    """Register the simulator control routes (only when the settings enable them)."""
    app.router.add_post(r"/_simulator/payment_intents/{id}/{outcome:pay|fail}", mark)
