"""Webhooks over HTTP: the inbound `POST /v1/webhooks/{provider}` route, and the background dispatcher of
outbound deliveries (docs/cloud-api.md#webhooks), opened and closed with the app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from cloud.api.endpoint import read_body
from cloud.api.errors import ApiError, json_response
from cloud.api.keys import DEPS, SETTINGS
from cloud.domain.provider_ports import InboundWebhook, WebhookSource
from cloud.domain.webhooks import TargetPolicy
from cloud.infrastructure.providers.paypay.inbound import PayPayWebhooks
from cloud.infrastructure.providers.simulator import SimulatorWebhooks
from cloud.infrastructure.webhook_sender import AiohttpWebhookSender
from cloud.service.provider_events import WebhookRejected, receive_event
from cloud.service.webhooks import Dispatcher

log = logging.getLogger("cloud.api")
MAX_WEBHOOK_BODY = 64 * 1024
SOURCES: dict[str, WebhookSource] = {"simulator": SimulatorWebhooks(), "paypay": PayPayWebhooks()}
MAX_PASSES = 20  # per tick: at most this many claims of a full batch before the next tick


async def provider_webhook(request: web.Request) -> web.Response:
    """POST /v1/webhooks/{provider}: verified with that provider's own scheme; 200 once acknowledged."""
    deps = request.app[DEPS]
    name = request.match_info["provider"]
    source = SOURCES.get(name)
    if source is None or deps.providers.get(name) is None:
        raise ApiError(404, "resource_missing", "no such provider", param="provider")
    body = await read_body(request, MAX_WEBHOOK_BODY)
    webhook = InboundWebhook(request.path, request.headers, body)
    try:
        await receive_event(name, webhook, source=source, uow=deps.uow, tenants=deps.tenants,
                            clock=deps.clock)  # fmt: skip
    except WebhookRejected as err:
        raise ApiError(401, err.code, err.message, type_="authentication_error") from err
    return json_response(200, {"received": True})


def target_policy(app: web.Application) -> TargetPolicy:
    """The delivery-target policy of these settings."""
    settings = app[SETTINGS]
    return TargetPolicy(settings.webhook_allow_loopback, settings.webhook_allow_private)


async def _dispatching(app: web.Application) -> AsyncIterator[None]:
    """The delivery loop: every poll interval, whichever worker leads `webhooks` delivers what is due."""
    deps, settings = app[DEPS], app[SETTINGS]
    if deps.webhooks is None:
        yield
        return
    sender = AiohttpWebhookSender(target_policy(app))
    dispatcher = Dispatcher(deps.webhooks, sender, deps.clock)

    async def loop() -> None:
        while True:
            await asyncio.sleep(settings.webhook_poll_seconds)
            try:
                async with deps.leader.lead("webhooks") as leading:
                    for _ in range(MAX_PASSES if leading else 0):
                        if await dispatcher.deliver_due() < dispatcher.batch:
                            break
            except Exception:
                log.exception("webhook delivery pass failed")

    task = asyncio.create_task(loop(), name="pgw-webhooks")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await sender.close()


def setup_routes(app: web.Application) -> None:
    """Register the inbound route and the outbound dispatcher."""
    app.router.add_post("/v1/webhooks/{provider}", provider_webhook)
    app.cleanup_ctx.append(_dispatching)
