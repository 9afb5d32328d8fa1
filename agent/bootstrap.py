"""The one composition root of the agent process: settings in, a ready aiohttp application out.

Startup order (one aiohttp cleanup context; closed in reverse): store (migrations: every
agent/adapters/store/migrations/*.sql) → HTTP session and QR cloud client → devices (build_devices,
started by their manager) → sale service → expiry sweep → sync uploader (agent.services.sync.SyncService).
Nothing here contacts the cloud: cash and card sales work from the first second with no network.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from agent.adapters.cloud_client import CloudClient
from agent.adapters.devices import build_devices
from agent.adapters.store import Store, wall_clock_ms
from agent.deps import AgentContext, Devices
from agent.entrypoints.api import sales as sales_api
from agent.entrypoints.api import status as status_api
from agent.entrypoints.api.errors import error_middleware
from agent.entrypoints.api.host_guard import host_guard
from agent.entrypoints.api.keys import CTX
from agent.entrypoints.web import setup_routes
from agent.services.qr_sales import QrSales
from agent.services.qr_scan import ScanWaiter
from agent.services.sales import SaleService
from agent.services.sync import SyncService, resolve_credential, sync_routes
from agent.settings import Settings

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 64 * 1024


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


def build_app(settings: Settings, *, credentials_dir: Path | None = None, devices: Devices | None = None,
              sync: bool = True, clock_ms: Callable[[], int] = wall_clock_ms) -> web.Application:
    """The agent's aiohttp application; everything is opened and closed in its cleanup context.

    `credentials_dir` is systemd's $CREDENTIALS_DIRECTORY (read by the CLI). `devices` replaces the
    [devices] table (tests, demo); `sync=False` leaves the uploader out (benchmarks, tests of the core).
    Raises DevicesConfigError on a bad [devices] table, before anything is opened.
    """
    found = resolve_credential(settings, credentials_dir)
    credential, cloud_url = (None, settings.cloud.url) if isinstance(found, str) else found
    ctx = AgentContext(settings=settings, clock_ms=clock_ms, credentials=credential, cloud_url=cloud_url)
    built = build_devices(settings.devices, settings.agent.db_path) if devices is None else None
    # The Host guard comes first: a misdirected (DNS-rebinding) request reaches nothing else.
    app = web.Application(middlewares=[host_guard(settings), error_middleware],
                          client_max_size=MAX_BODY_BYTES)
    app[CTX] = ctx
    app.add_routes(sales_api.routes)
    app.add_routes(status_api.routes)
    setup_routes(app)
    app.add_routes(sync_routes(lambda request: request.app[CTX].sync))  # POST /api/sync (issue 5)

    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            await _open_core(ctx, stack)
            if built is not None:
                ctx.devices = Devices(built.card_reader, built.printer, built.scanner)
                ctx.device_manager = built.manager
                await built.manager.start()
                stack.push_async_callback(built.manager.stop)
                manager = built.manager

                async def device_status() -> dict[str, Any]:
                    return manager.health_json()

                ctx.status_providers["devices"] = device_status
            elif devices is not None:
                ctx.devices = devices
            if sync:
                await _open_sync(ctx, stack, credentials_dir)
            scans = None
            if ctx.devices.scanner is not None:  # QR CPM takes the next scan as the customer's code
                scans = ScanWaiter(ctx.devices.scanner)
                scans.start()
                stack.push_async_callback(scans.stop)
                ctx.status_providers["qr_cpm"] = scans.status
            qr = QrSales(ctx.require_store(), ctx.cloud, settings.agent.serial, clock_ms, scans=scans,
                         scan_timeout_s=settings.cloud.cpm_scan_timeout_s)
            stack.push_async_callback(qr.close)
            ctx.sales = SaleService(ctx.require_store(), settings, qr, card_reader=ctx.devices.card_reader,
                                    printer=ctx.devices.printer,
                                    on_recorded=ctx.sync.kick if ctx.sync is not None else None)
            await stack.enter_async_context(expiry_sweeper(ctx))
            if ctx.sync is not None:
                ctx.sync.start()
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
    # Creating a session makes no connection: the first network use is the first QR sale.
    ctx.http = await stack.enter_async_context(aiohttp.ClientSession())
    if ctx.credentials is not None:
        ctx.cloud = CloudClient(ctx.cloud_url, ctx.credentials, ctx.http, settings.cloud.timeout_s)


async def _open_sync(ctx: AgentContext, stack: contextlib.AsyncExitStack,
                     credentials_dir: Path | None) -> None:
    service = await SyncService.open(ctx.settings, credentials_dir=credentials_dir)
    stack.push_async_callback(service.close)
    ctx.sync = service
    ctx.status_providers["sync"] = service.status

