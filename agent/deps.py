"""The frozen dependencies of one agent process, built by agent.bootstrap before the app starts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from agent.adapters.cloud_client import CloudClient
from agent.adapters.devices.manager import DeviceManager
from agent.adapters.store import AgentDatabase, Store
from agent.adapters.store.admin_lockout import AdminAttempts
from agent.domain.ports import CardReaderPort, ReceiptPrinterPort, ScannerPort
from agent.services.qr_scan import ScanWaiter
from agent.services.refunds import RefundService
from agent.services.sales import SaleService
from agent.services.settlement import SettlementService
from agent.services.sync import SyncService
from agent.settings import Settings
from sync.client import DeviceCredential

StatusProvider = Callable[[], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Devices:
    """The device adapters in use; None where a device is absent or not configured."""

    card_reader: CardReaderPort | None = None
    printer: ReceiptPrinterPort | None = None
    scanner: ScannerPort | None = None


@dataclass(frozen=True, slots=True)
class Deps:
    """Everything the entrypoints (API, pages) and background tasks use; nothing in it is replaced later."""

    settings: Settings
    clock_ms: Callable[[], int]
    started_at_ms: int
    database: AgentDatabase
    store: Store
    sales: SaleService
    devices: Devices
    device_manager: DeviceManager | None  # None when the devices came from the caller (tests, benchmarks)
    scans: ScanWaiter | None  # the scanner as the QR CPM flow sees it
    credentials: DeviceCredential | None  # None: not enrolled
    cloud_url: str
    cloud: CloudClient | None  # None when not enrolled
    sync: SyncService | None  # the uploader; None when left out (benchmarks, tests of the core)
    # Extra blocks of GET /api/status, by key ("sync", "devices", "qr_cpm").
    status_providers: Mapping[str, StatusProvider]
    admin_attempts: AdminAttempts  # the admin password lockout, kept in the database
    settlement: SettlementService | None = None  # X and Z reports (docs/settlement.md)
    refunds: RefundService | None = None  # cash/card refunds on the chain, QR refunds online
