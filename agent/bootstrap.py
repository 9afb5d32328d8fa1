"""The one composition root of the agent process: settings in, a frozen Deps, then the aiohttp application.

`open_deps` opens everything in order (closed in reverse): the [devices] table is validated first, then the
database (migrations: every agent/adapters/store/migrations/*.sql), the HTTP session and the signed cloud
client, the devices, the sync service, QR sales and the sale service. `create_app(settings, deps)` builds the
app over them; its cleanup context only starts and stops the background tasks (device manager, scanner
waiter, expiry sweep, sync monitor). Nothing here contacts the cloud: cash and card sales work from the first
second with no network (docs/architecture.md).
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
from agent.adapters.devices.config import parse_devices_config
from agent.adapters.secrets import resolve_credential
from agent.adapters.store import AgentDatabase, Store
from agent.adapters.store.admin_lockout import AdminAttempts
from agent.adapters.store.history import history_recorder
from agent.adapters.store.qr_mirror import QrMirror
from agent.adapters.store.refunds import Refunds
from agent.adapters.store.settlements import Settlements
from agent.adapters.telemetry import agent_gauges
from agent.deps import Deps, Devices, StatusProvider
from agent.domain.ports import DocumentPrinterPort, ReceiptPrinterPort
from agent.entrypoints.api import sales as sales_api
from agent.entrypoints.api import status as status_api
from agent.entrypoints.api import sync as sync_api
from agent.entrypoints.api.errors import error_middleware
from agent.entrypoints.api.host_guard import host_guard
from agent.entrypoints.api.keys import DEPS
from agent.entrypoints.api.same_origin import same_origin_guard
from agent.entrypoints.web import setup_routes
from agent.services.qr_sales import QrSales
from agent.services.qr_scan import ScanWaiter
from agent.services.receipts import Receipts, store_info
from agent.services.refunds import RefundService
from agent.services.sales import SaleService
from agent.services.settlement import SettlementService
from agent.services.sync import SyncService
from agent.settings import Settings, cloud_trust
from sync.clock import wall_clock_ms
from sync.tls import CloudTrust

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 64 * 1024


@contextlib.asynccontextmanager
async def open_deps(settings: Settings, *, credentials_dir: Path | None = None,
                    devices: Devices | None = None, sync: bool = True,
                    clock_ms: Callable[[], int] = wall_clock_ms) -> AsyncIterator[Deps]:
    """Open every dependency of the agent and yield them frozen; close them all on exit.

    `credentials_dir` is systemd's $CREDENTIALS_DIRECTORY (read by the CLI). `devices` replaces the
    [devices] table (tests, demo); `sync=False` leaves the uploader out (benchmarks, tests of the core).
    Raises DevicesConfigError on a bad [devices] table, before anything is opened.
    """
    devices_cfg = parse_devices_config(settings.devices) if devices is None else None
    found = resolve_credential(settings, credentials_dir)
    credential, cloud_url = (None, settings.cloud.url) if isinstance(found, str) else found
    providers: dict[str, StatusProvider] = {}
    async with contextlib.AsyncExitStack() as stack:
        started_at_ms = clock_ms()
        database = await AgentDatabase.open(settings.agent.db_path,
                                            max_db_bytes=settings.agent.max_db_mb * 1024 * 1024)
        stack.push_async_callback(database.close)
        store = await Store.over(database, settings.offline, clock_ms=clock_ms)
        # Creating a session makes no connection: the first network use is the first QR sale.
        http = await stack.enter_async_context(aiohttp.ClientSession())
        trust = cloud_trust(settings)  # one for QR sales and sync: the status page shows its last outcome
        providers["certificate"] = _certificate_of(trust, cloud_url)
        cloud = (CloudClient(cloud_url, credential, http, settings.cloud.timeout_s, trust)
                 if credential else None)
        manager = None
        if devices_cfg is not None:
            built = build_devices(devices_cfg, database)
            devices, manager = Devices(built.card_reader, built.printer, built.scanner), built.manager
            providers["devices"] = _health_of(built.manager.health_json)
        assert devices is not None
        sync_service = None
        if sync:
            sync_service = SyncService.build(database, found, settings.cloud.timeout_s, trust=trust)
            stack.push_async_callback(sync_service.close)
            providers["sync"] = sync_service.status
        scans = ScanWaiter(devices.scanner) if devices.scanner is not None else None
        if scans is not None:  # QR CPM takes the next scan as the customer's code
            providers["qr_cpm"] = scans.status
        qr = QrSales(store, QrMirror(database), cloud, settings.agent.serial, clock_ms, scans=scans,
                     scan_timeout_s=settings.cloud.cpm_scan_timeout_s)
        stack.push_async_callback(qr.close)
        settlements = Settlements(database)
        receipts = Receipts(settings, settlements, clock_ms)
        kick = sync_service.kick if sync_service is not None else None
        sales = SaleService(store, settings, qr, card_reader=devices.card_reader, printer=devices.printer,
                            receipts=receipts, on_recorded=kick,
                            online=sync_service.online if sync_service is not None else None)
        refunds = RefundService(Refunds(database, store.chain, settings.offline), settings.agent.serial,
                                cloud, receipts=receipts, printer=devices.printer, clock_ms=clock_ms,
                                on_recorded=kick)
        yield Deps(settings=settings, clock_ms=clock_ms, started_at_ms=started_at_ms, database=database,
                   store=store, sales=sales, devices=devices, device_manager=manager, scans=scans,
                   credentials=credential, cloud_url=cloud_url, cloud=cloud, sync=sync_service,
                   status_providers=dict(providers), admin_attempts=AdminAttempts(database),
                   settlement=SettlementService(settlements, settings, store_info(settings),
                                                _document_printer(devices.printer), clock_ms, on_closed=kick),
                   refunds=refunds)


def _document_printer(printer: ReceiptPrinterPort | None) -> DocumentPrinterPort | None:
    """The receipt printer, when it can print report slips too."""
    return printer if isinstance(printer, DocumentPrinterPort) else None


def _certificate_of(trust: CloudTrust, url: str) -> StatusProvider:
    async def certificate() -> dict[str, Any]:
        return trust.status(url)

    return certificate


def create_app(settings: Settings, deps: Deps) -> web.Application:
    """The agent's aiohttp application over already opened dependencies."""
    # The Host guard comes first: a misdirected (DNS-rebinding) request reaches nothing else; then no
    # state-changing request from another origin, or not as JSON, reaches a handler (docs/local-web.md).
    app = web.Application(middlewares=[host_guard(settings), same_origin_guard(), error_middleware],
                          client_max_size=MAX_BODY_BYTES)
    app[DEPS] = deps
    app.add_routes(sales_api.routes)
    app.add_routes(status_api.routes)
    app.add_routes(sync_api.routes)
    setup_routes(app)
    app.cleanup_ctx.append(lambda _app: _background(deps))
    return app


async def build_app(settings: Settings, *, credentials_dir: Path | None = None,
                    devices: Devices | None = None, sync: bool = True,
                    clock_ms: Callable[[], int] = wall_clock_ms) -> web.Application:
    """open_deps + create_app in one call; the dependencies close when the app is cleaned up."""
    stack = contextlib.AsyncExitStack()
    deps = await stack.enter_async_context(open_deps(settings, credentials_dir=credentials_dir,
                                                     devices=devices, sync=sync, clock_ms=clock_ms))
    app = create_app(settings, deps)

    async def close(_app: web.Application) -> None:
        await stack.aclose()

    app.on_cleanup.append(close)  # after the cleanup context has stopped the background tasks
    return app


@contextlib.asynccontextmanager
async def _background(deps: Deps) -> AsyncIterator[None]:
    """Start the device manager, the scan waiter, the expiry sweep and the sync monitor; stop them again."""
    async with contextlib.AsyncExitStack() as stack:
        if deps.device_manager is not None:
            await deps.device_manager.start()
            stack.push_async_callback(deps.device_manager.stop)
        if deps.scans is not None:
            deps.scans.start()
            stack.push_async_callback(deps.scans.stop)
        await stack.enter_async_context(expiry_sweeper(deps))
        await stack.enter_async_context(history_recorder(deps.database, deps.clock_ms))
        await stack.enter_async_context(agent_gauges(deps))
        if deps.sync is not None:
            deps.sync.start()
        yield


@contextlib.asynccontextmanager
async def expiry_sweeper(deps: Deps) -> AsyncIterator[None]:
    """Mark never-synced sales older than the max age `expired`, at start and then every interval."""

    async def loop() -> None:
        while True:
            try:
                expired = await deps.store.expire_stale(deps.settings.offline.max_age_ms)
                if expired:
                    log.warning("%d unsynced sales passed the offline max age and are now expired", expired)
            except Exception as err:  # a read-only or full store must not stop the agent
                log.error("expiry sweep failed: %s", err)
            await asyncio.sleep(deps.settings.agent.expiry_interval_s)

    task = asyncio.create_task(loop(), name="agent-expiry")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _health_of(health_json: Callable[[], dict[str, Any]]) -> StatusProvider:
    async def provider() -> dict[str, Any]:
        return health_json()

    return provider
