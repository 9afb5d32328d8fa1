"""The one composition root of the agent process: settings in, a ready aiohttp application out.

Startup order (aiohttp cleanup contexts, closed in reverse): store → HTTP client and cloud client →
devices → sale service → background work (expiry sweep, then the uploader). Nothing here contacts the cloud,
so cash and card sales work from the first second with no network (cold start offline).

Plug-in points, found by name so other packages need not edit this file:
- `agent.devices.open_devices(table: dict, ctx: AgentContext) -> AsyncContextManager[Devices]`
- `agent.secrets.load_credentials(settings: Settings) -> CloudCredentials | None`
- `agent.uploader.run_uploader(ctx: AgentContext) -> AsyncContextManager[None]`
Tests and the demo pass `devices=` / `credentials=` / `background=` to `build_app` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiohttp
from aiohttp import web

from agent.api import sales as sales_api
from agent.api import status as status_api
from agent.api.errors import error_middleware
from agent.api.keys import CTX
from agent.cloud import CloudClient, CloudCredentials
from agent.context import AgentContext, Devices
from agent.qr import QrSales
from agent.service import SaleService
from agent.settings import Settings
from agent.store import Store, wall_clock_ms
from agent.web import setup_routes as setup_web

log = logging.getLogger(__name__)
Background = Callable[[AgentContext], AbstractAsyncContextManager[None]]
DeviceOpener = Callable[[dict[str, Any], AgentContext], AbstractAsyncContextManager[Devices]]
MAX_BODY_BYTES = 64 * 1024


def _plugin(module: str, name: str) -> Any:
    """`module.name` if that module exists and defines it, else None."""
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name is not None and module.startswith(err.name):
            return None
        raise
    return getattr(mod, name, None)


def credentials_from(settings: Settings) -> CloudCredentials | None:
    """The device credential: the secret store's, else the config file's, else None (not enrolled)."""
    loader = _plugin("agent.secrets", "load_credentials")
    if loader is not None:
        found: CloudCredentials | None = loader(settings)
        if found is not None:
            return found
    cloud = settings.cloud
    secret = cloud.secret_key.get_secret_value()
    if cloud.device_id and cloud.api_key and secret:
        return CloudCredentials(cloud.device_id, cloud.api_key, secret)
    return None


@contextlib.asynccontextmanager
async def expiry_sweeper(ctx: AgentContext) -> AsyncIterator[None]:
    """Mark never-synced sales older than the max age `expired`, at start and then every interval."""
    store = ctx.require_store()

    async def loop() -> None:
        while True:
            try:
                expired = await store.expire_stale(ctx.settings.offline.max_age_ms)
                if expired:
                    log.warning("%d unsynced sales passed the offline max age and are now expired", expired)
            except Exception as err:  # a read-only or full store must not stop the agent
                log.error("expiry sweep failed: %s", err)
            await asyncio.sleep(ctx.settings.agent.expiry_interval_s)

    task = asyncio.create_task(loop(), name="agent-expiry")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def build_app(settings: Settings, *, credentials: CloudCredentials | None = None,
              devices: Devices | None = None, background: Sequence[Background] | None = None,
              clock_ms: Callable[[], int] = wall_clock_ms) -> web.Application:
    """The agent's aiohttp application; opening and closing everything happens in its cleanup contexts."""
    ctx = AgentContext(settings=settings, clock_ms=clock_ms,
                       credentials=credentials if credentials is not None else credentials_from(settings))
    app = web.Application(middlewares=[error_middleware], client_max_size=MAX_BODY_BYTES)
    app[CTX] = ctx
    app.add_routes(sales_api.routes)
    setup_web(app)  # cashier screen `/`, status page `/status` (before status_api's reserved placeholders)
    app.add_routes(status_api.routes)
    extra = list(background) if background is not None else _default_background()

    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            await _open_core(ctx, stack)
            ctx.devices = devices if devices is not None else await _open_devices(ctx, stack)
            qr = QrSales(ctx.require_store(), ctx.cloud, settings.agent.serial, clock_ms)
            ctx.sales = SaleService(ctx.require_store(), settings, qr, card_reader=ctx.devices.card_reader,
                                    printer=ctx.devices.printer)
            for factory in [expiry_sweeper, *extra]:
                await stack.enter_async_context(factory(ctx))
            yield

    app.cleanup_ctx.append(lifecycle)
    return app


async def _open_core(ctx: AgentContext, stack: contextlib.AsyncExitStack) -> None:
    settings = ctx.settings
    ctx.started_at_ms = ctx.clock_ms()
    store = await Store.open(settings.agent.db_path, settings.offline, clock_ms=ctx.clock_ms,
                             max_db_bytes=settings.agent.max_db_mb * 1024 * 1024)
    stack.push_async_callback(store.close)
    ctx.store = store
    # Creating a session makes no connection: the first network use is the first QR sale or upload.
    ctx.http = await stack.enter_async_context(aiohttp.ClientSession())
    if ctx.credentials is not None:
        ctx.cloud = CloudClient(settings.cloud.url, ctx.credentials, ctx.http, settings.cloud.timeout_s)


async def _open_devices(ctx: AgentContext, stack: contextlib.AsyncExitStack) -> Devices:
    opener: DeviceOpener | None = _plugin("agent.devices", "open_devices")
    if opener is None:
        return Devices()
    return await stack.enter_async_context(opener(dict(ctx.settings.devices), ctx))


def _default_background() -> list[Background]:
    uploader: Background | None = _plugin("agent.uploader", "run_uploader")
    return [uploader] if uploader is not None else []
