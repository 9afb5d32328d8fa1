"""Device adapters for the agent: `build_devices(config, database)` is the single factory (see config.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agent.adapters.devices.cardreader import CardReaderService
from agent.adapters.devices.config import DevicesConfig, DevicesConfigError, parse_devices_config
from agent.adapters.devices.link import DeviceHealth
from agent.adapters.devices.manager import DeviceManager
from agent.adapters.devices.printer import PrinterService
from agent.adapters.devices.scanner import ScannerService
from agent.adapters.store.database import AgentDatabase

__all__ = [
    "CardReaderService", "DeviceHealth", "DeviceManager", "Devices", "DevicesConfig", "DevicesConfigError",
    "PrinterService", "ScannerService", "build_devices",
]


@dataclass(frozen=True, slots=True)
class Devices:
    """The port adapters (None when not configured) and the manager that runs them."""

    printer: PrinterService | None
    scanner: ScannerService | None
    card_reader: CardReaderService | None
    manager: DeviceManager


def build_devices(config: Mapping[str, Any] | DevicesConfig, database: AgentDatabase) -> Devices:
    """Validate the raw [devices] table and build the adapters; no I/O until `manager.start()`.

    Raises DevicesConfigError with every bad key named.
    """
    cfg = config if isinstance(config, DevicesConfig) else parse_devices_config(config)
    printer = PrinterService(cfg.printer, database, reopen_max_s=cfg.reopen_max_s) if cfg.printer else None
    scanner = ScannerService(cfg.scanner, reopen_max_s=cfg.reopen_max_s) if cfg.scanner else None
    card = CardReaderService(cfg.card_reader, reopen_max_s=cfg.reopen_max_s) if cfg.card_reader else None
    services = [s for s in (printer, scanner, card) if s is not None]
    return Devices(printer, scanner, card, DeviceManager(services))
