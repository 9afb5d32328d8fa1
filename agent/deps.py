"""What the bootstrap builds and hands to the web app and to plug-ins (devices, uploader)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from agent.adapters.cloud_client import CloudClient
from agent.adapters.store import Store
from agent.domain.ports import CardReaderPort, ReceiptPrinterPort, ScannerPort
from agent.services.sales import SaleService
from agent.services.sync import SyncService
from agent.settings import Settings
from sync.client import DeviceCredential

StatusProvider = Callable[[], Awaitable[dict[str, Any]]]


@dataclass(slots=True)
class Devices:
    """The device adapters in use; None where a device is absent or not configured."""

    card_reader: CardReaderPort | None = None
    printer: ReceiptPrinterPort | None = None
    scanner: ScannerPort | None = None


@dataclass(slots=True)
class AgentContext:
    """Everything one agent process runs on. Filled in order by bootstrap's cleanup contexts."""

    settings: Settings
    clock_ms: Callable[[], int]
    credentials: DeviceCredential | None  # None: not enrolled
    cloud_url: str
    store: Store | None = None
    http: aiohttp.ClientSession | None = None
    cloud: CloudClient | None = None  # None when not enrolled
    devices: Devices = field(default_factory=Devices)
    sales: SaleService | None = None
    sync: SyncService | None = None  # the uploader; its status() is the "sync" block of /api/status
    device_manager: Any = None  # agent.adapters.devices.DeviceManager when devices are configured
    # Extra blocks of GET /api/status, by key (e.g. the uploader registers "sync").
    status_providers: dict[str, StatusProvider] = field(default_factory=dict)
    started_at_ms: int = 0

    def require_store(self) -> Store:
        """The open store (after startup)."""
        if self.store is None:
            raise RuntimeError("the store is not open yet")
        return self.store

    def require_sales(self) -> SaleService:
        """The sale service (after startup)."""
        if self.sales is None:
            raise RuntimeError("the sale service is not ready yet")
        return self.sales
