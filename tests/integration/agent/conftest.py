"""Fixtures for the agent core: settings over a temp folder, the app on a real loopback server, fake devices.

The fakes implement agent/domain/ports.py; they stand in for the device adapters (tested over ptys in
tests/*/agent/adapters/devices), so these tests exercise the sale flow, not the serial protocol.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from agent.bootstrap import build_app
from agent.deps import Devices
from agent.domain.ports import CardResult, SaleReceipt
from agent.settings import Settings, load_settings
from drivers.simulators.rig import SimulatorRig, start_simulators
from tests.e2e.agent.process import closed_port

MakeClient = Callable[..., Awaitable[TestClient[Any, Any]]]


def make_settings(folder: Path, overrides: dict[str, dict[str, Any]] | None = None) -> Settings:
    """Defaults for tests: state in `folder`, port 0, the cloud at a closed port, no sweep noise."""
    table: dict[str, dict[str, Any]] = {
        "agent": {"state_dir": str(folder), "serial": "IT-1", "expiry_interval_s": 3600},
        "web": {"port": 0},
        "cloud": {"url": f"http://127.0.0.1:{closed_port()}", "timeout_s": 2.0},
        "store": {"name": "Test Store", "currencies": ["JPY", "USD"]},
    }
    for key, value in (overrides or {}).items():
        table[key] = {**table.get(key, {}), **value}
    return load_settings(overrides=table)


class FakeCardReader:
    """CardReaderPort: answers a programmed result (or raises), records each call."""

    def __init__(self, result: CardResult | Exception) -> None:
        self.result = result
        self.calls: list[tuple[int, str, str]] = []

    async def authorize(self, amount: int, currency: str, reference: str) -> CardResult:
        self.calls.append((amount, currency, reference))
        await asyncio.sleep(0)
        if isinstance(self.result, Exception):
            raise self.result
        return self.result

    async def cancel(self) -> None:
        return None


class FakePrinter:
    """ReceiptPrinterPort: keeps the receipts, or raises when `fail` is set."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.fail = fail
        self.receipts: list[SaleReceipt] = []

    async def print_receipt(self, receipt: SaleReceipt) -> str:
        if self.fail is not None:
            raise self.fail
        self.receipts.append(receipt)
        return f"job-{len(self.receipts)}"


@pytest.fixture
def make_client(aiohttp_client: Any, tmp_path: Path) -> MakeClient:
    """`await make_client(overrides, devices=..., clock_ms=...)`: the app on a loopback port, no uploader."""

    async def make(
        overrides: dict[str, dict[str, Any]] | None = None,
        *,
        devices: Devices | None = None,
        folder: Path | None = None,
        **kwargs: Any,
    ) -> TestClient[Any, Any]:
        settings = make_settings(folder or tmp_path / "state", overrides)
        app = await build_app(settings, devices=devices or Devices(), sync=False, **kwargs)
        client: TestClient[Any, Any] = await aiohttp_client(app)
        return client

    return make

@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[SimulatorRig]:
    """Printer, scanner and card reader simulators on real ptys under tmp_path/dev."""
    folder = tmp_path / "dev"
    folder.mkdir()
    sims = await start_simulators(folder)
    try:
        yield sims
    finally:
        await sims.stop()


# The sync fixtures (a migrated agent database, its outbox, the real cloud and the stand-in) serve the store,
# sync-service and enrollment tests alike, so they are offered to the whole agent tree.
from tests.integration.agent.sync_fixtures import agent_store, cloud, outbox, reference_cloud  # noqa: E402, F401
