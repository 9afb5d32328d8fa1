"""The demo's simulator rig: one call starts all three; its [devices] table drives build_devices."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent.adapters.devices import build_devices
from agent.adapters.store import AgentDatabase
from drivers.escpos.receipt import SaleReceipt
from drivers.simulators.rig import start_simulators
from tests.integration.drivers.helpers import wait_until


class TestSimulatorRig:
    async def test_rig_config_drives_all_devices(self, tmp_path: Path) -> None:
        """Printer prints, scanner scans and the reader approves through the config the rig hands out."""
        rig = await start_simulators(tmp_path)
        database = await AgentDatabase.open(tmp_path / "agent.sqlite3")
        devices = build_devices(rig.devices_config(), database)
        await devices.manager.start()
        try:
            assert devices.printer and devices.scanner and devices.card_reader
            result = await devices.card_reader.authorize(500, "JPY", "rig-1")
            await devices.printer.print_receipt(SaleReceipt("rig-1", 1, "店", 0, "JPY", 500, 45, "card"))
            codes = devices.scanner.codes()
            await wait_until(lambda: devices.manager.health()["scanner"].state == "online")
            rig.scanner.emit("SCANNED")
            assert await asyncio.wait_for(anext(codes), 3) == "SCANNED"
            assert result.status == "approved"
            assert len(await rig.printer.wait_receipts(1)) == 1
        finally:
            await devices.manager.stop()
            await database.close()
            await rig.stop()
