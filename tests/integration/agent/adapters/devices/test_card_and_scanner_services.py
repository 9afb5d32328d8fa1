"""Card reader and scanner services through build_devices over real ptys: sales, faults, hot-plug."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.adapters.devices import Devices, build_devices
from agent.adapters.store import AgentDatabase
from drivers.errors import DeviceDisconnected, ProtocolError
from drivers.simulators.cardreader import CardReaderSimulator, CardRules
from drivers.simulators.scanner import ScannerSimulator
from tests.integration.drivers.helpers import wait_until


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[tuple[Devices, CardReaderSimulator, ScannerSimulator]]:
    card = CardReaderSimulator(CardRules(decline_amounts={777}, present_delay=0.01))
    scan = ScannerSimulator()
    config = {
        "reopen_max_s": 0.2,
        "card_reader": {
            "path": card.start_pty(tmp_path / "reader"),
            "ack_timeout_s": 0.2,
            "retries": 2,
            "result_timeout_s": 1.0,
            "cancel_grace_s": 0.3,
        },
        "scanner": {"transport": "serial", "path": scan.start_pty(tmp_path / "scanner")},
    }
    database = await AgentDatabase.open(tmp_path / "agent.sqlite3")
    devices = build_devices(config, database)
    await devices.manager.start()
    yield devices, card, scan
    await devices.manager.stop()
    await database.close()
    await card.stop()
    await scan.stop()


class TestCardReaderService:
    async def test_approve_and_decline(
        self, rig: tuple[Devices, CardReaderSimulator, ScannerSimulator]
    ) -> None:
        """A sale is approved; the amount the rules decline is declined; the reader reads online."""
        devices, _, _ = rig
        assert devices.card_reader is not None
        approved = await devices.card_reader.authorize(1500, "JPY", "sale-1")
        declined = await devices.card_reader.authorize(777, "JPY", "sale-2")
        assert approved.status == "approved" and approved.card_last_4 == "4242"
        assert declined.status == "declined"
        assert devices.manager.health()["card_reader"].state == "online"

    async def test_naks_forever_marks_faulty_then_recovers(
        self, rig: tuple[Devices, CardReaderSimulator, ScannerSimulator]
    ) -> None:
        """A reader that NAKs everything fails the sale, reads faulty, and works again once it behaves."""
        devices, card, _ = rig
        assert devices.card_reader is not None
        card.rules.mode = "nak"
        with pytest.raises(ProtocolError):
            await devices.card_reader.authorize(100, "JPY", "sale-3")
        assert devices.manager.health()["card_reader"].state == "faulty"
        card.rules.mode = "normal"
        assert (await devices.card_reader.authorize(100, "JPY", "sale-4")).status == "approved"
        assert devices.manager.health()["card_reader"].state == "online"

    async def test_unplugged_then_replugged(
        self, rig: tuple[Devices, CardReaderSimulator, ScannerSimulator]
    ) -> None:
        """Unplugged: offline and a sale fails fast with a cashier message; re-plugged, sales work again."""
        devices, card, _ = rig
        assert devices.card_reader is not None
        await wait_until(lambda: devices.manager.health()["card_reader"].state == "online")
        card.unplug()
        await wait_until(lambda: devices.manager.health()["card_reader"].state == "offline")
        with pytest.raises(DeviceDisconnected) as info:
            await devices.card_reader.authorize(100, "JPY", "sale-5")
        assert "card reader" in (devices.manager.health()["card_reader"].cashier_message or "").lower()
        assert info.value.cashier_message
        card.replug()
        await wait_until(lambda: devices.manager.health()["card_reader"].state == "online")
        assert (await devices.card_reader.authorize(100, "JPY", "sale-6")).status == "approved"

    async def test_cancel_from_cashier(
        self, rig: tuple[Devices, CardReaderSimulator, ScannerSimulator]
    ) -> None:
        """cancel() while waiting for the card ends the sale declined 'cancelled'."""
        devices, card, _ = rig
        assert devices.card_reader is not None
        card.rules.mode = "timeout"
        sale = asyncio.get_running_loop().create_task(devices.card_reader.authorize(100, "JPY", "sale-7"))
        await wait_until(lambda: len(card.sales) == 1)
        await devices.card_reader.cancel()
        assert (await sale).decline_reason == "cancelled"


class TestScannerService:
    async def test_codes_survive_replug(
        self, rig: tuple[Devices, CardReaderSimulator, ScannerSimulator]
    ) -> None:
        """Scans arrive through codes(); after unplug (offline) and re-plug they arrive again."""
        devices, _, scan = rig
        assert devices.scanner is not None
        codes = devices.scanner.codes()
        await wait_until(lambda: devices.manager.health()["scanner"].state == "online")
        scan.emit("CPM-CODE-1")
        assert await asyncio.wait_for(anext(codes), 3) == "CPM-CODE-1"
        scan.unplug()
        await wait_until(lambda: devices.manager.health()["scanner"].state == "offline")
        scan.replug()
        await wait_until(lambda: devices.manager.health()["scanner"].state == "online")
        scan.emit_raw(b"\x00\xff garbage\r\n")
        scan.emit("CPM-CODE-2")
        assert await asyncio.wait_for(anext(codes), 3) == "CPM-CODE-2"
