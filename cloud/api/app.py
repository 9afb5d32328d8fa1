"""The aiohttp app factory and the one list of route modules."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from cloud.api import devices, health, intents, refunds, settlements, simulator, sync_batches, webhooks
from cloud.api.auth import purge_replays
from cloud.api.errors import error_middleware
from cloud.api.keys import DEPS, IN_FLIGHT, LIMITER, PEER_LIMITS, SETTINGS
from cloud.api.ratelimit import PeerLimits, SharedLimiter, stale_windows
from cloud.deps import Deps
from cloud.infrastructure.providers.http import Closeable
from cloud.service.handlers import expire_due, purge_idempotency
from cloud.service.refunds import retry_pending_refunds
from cloud.settings import Settings
from cloud.tls import forwarded_middleware

log = logging.getLogger("cloud.api")

# Every route module, in one place. Later modules (devices, sync batches) add their setup_routes here.
ROUTE_SETUPS: list[Callable[[web.Application], None]] = [
    health.setup_routes,
    intents.setup_routes,
    devices.setup_routes,
    sync_batches.setup_routes,
    webhooks.setup_routes,
    refunds.setup_routes,
    settlements.setup_routes,
]


async def _storage(app: web.Application) -> AsyncIterator[None]:
    deps = app[DEPS]
    await deps.db.open()
    yield
    await deps.db.close()
    if isinstance(deps.providers, Closeable):  # their pooled HTTP sessions (docs/providers.md#connections)
        await deps.providers.aclose()


PURGE_PAGE = 1000  # outbox events (and expired previous secrets) forgotten per sweeper tick at most


async def sweep_once(deps: Deps, settings: Settings) -> bool:
    """One tick of background work, run by whichever worker leads it (docs/operations.md#workers); False
    when another worker leads this tick. Each expiry is also a version-checked write, so even two sweepers
    could never move one intent twice."""
    async with deps.leader.lead("sweeper") as leading:
        if not leading:
            return False
        for _ in range(100):  # bounded: at most 100 pages of 100 per tick
            if await expire_due(uow=deps.uow(), clock=deps.clock) == 0:
                break
        # QR refunds whose provider answer was lost: asked again, same refund id (docs/cloud-api.md#refunds)
        await retry_pending_refunds(new_unit=deps.uow, tenants=deps.tenants, providers=deps.providers,
                                    clock=deps.clock)  # fmt: skip
        retention = deps.clock() - settings.idempotency_ttl_seconds
        await purge_idempotency(uow=deps.uow(), older_than=retention)
        await purge_replays(uow=deps.uow(), now=deps.clock())
        await deps.limits.purge(stale_windows(deps.clock()))
        if deps.secrets is not None:  # expired previous secrets (docs/cloud-api.md#rotating-a-secret)
            await deps.secrets.purge_expired(deps.clock(), PURGE_PAGE)
        if deps.webhooks is not None:  # finished outbox events past retention (docs/operations.md#webhooks)
            await deps.webhooks.purge(deps.clock() - settings.webhook_retention_seconds, PURGE_PAGE)
        return True


async def _sweeper(app: web.Application) -> AsyncIterator[None]:
    """Background expiry of untouched intents and purge of old idempotency records."""
    deps, settings = app[DEPS], app[SETTINGS]

    async def loop() -> None:
        while True:
            await asyncio.sleep(settings.expiry_sweep_seconds)
            try:
                await sweep_once(deps, settings)
            except Exception:
                log.exception("expiry sweep failed")

    task = asyncio.create_task(loop(), name="pgw-expiry-sweeper")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _worker_header(worker_id: int) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    """Every response of a worker of `serve --workers N` names it (docs/operations.md#workers)."""
    value = str(worker_id)

    async def add(_request: web.Request, response: web.StreamResponse) -> None:
        response.headers["X-Worker-Id"] = value

    return add


def create_app(settings: Settings, deps: Deps) -> web.Application:
    """Build the app; storage opens and the sweeper starts in cleanup_ctx, not here."""
    # Behind a trusted TLS-terminating proxy, the client's address is taken from X-Forwarded-For first.
    app = web.Application(middlewares=[*forwarded_middleware(settings), error_middleware],
                          client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[DEPS] = deps
    app[PEER_LIMITS] = PeerLimits.shared(deps.limits, settings)
    app[LIMITER] = SharedLimiter(deps.limits, "merchant", settings.rate_limit_per_minute)
    app[IN_FLIGHT] = set()
    app.cleanup_ctx.extend([_storage, _sweeper])
    if settings.worker_id is not None:
        app.on_response_prepare.append(_worker_header(settings.worker_id))
    for setup in ROUTE_SETUPS:
        setup(app)
    if deps.simulator is not None:
        log.warning("simulator routes are ON: POST /_simulator/payment_intents/{id}/pay|fail settle QR codes "
                    "without auth (loopback peers only); never enable this outside a demo or a test")
        simulator.setup_routes(app)
    return app
