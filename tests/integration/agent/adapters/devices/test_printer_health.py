"""Printer health over a real pty on a link without status queries: after a write the printer did not
take, reopening the port does not make it read online; only a write it takes does
(docs/devices.md#hot-plug-and-health)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from agent.adapters.devices import Devices, PrinterService, build_devices
from agent.adapters.devices.printer import MESSAGES
from agent.adapters.store import AgentDatabase
from drivers.escpos import encode as e
from drivers.simulators.printer import PrinterSimulator
from tests.integration.drivers.helpers import wait_until


def _state(db: Path, job: str) -> str:
    with sqlite3.connect(db) as conn:
        return str(conn.execute("SELECT state FROM print_jobs WHERE job_id = ?", (job,)).fetchone()[0])


@pytest.fixture
async def one_way(tmp_path: Path) -> AsyncIterator[tuple[PrinterSimulator, PrinterService, Path]]:
    sim = PrinterSimulator()
    path = sim.start_pty(tmp_path / "printer")
    db = tmp_path / "agent.sqlite3"
    database = await AgentDatabase.open(db)
    cfg = {"transport": "serial", "path": path, "status": False, "debounce_s": 0, "status_poll_s": 0.1}
    devices: Devices = build_devices({"printer": cfg, "reopen_max_s": 0.2}, database)
    await devices.manager.start()
    assert devices.printer is not None
    yield sim, devices.printer, db
    await devices.manager.stop()
    await database.close()
    await sim.stop()


class TestOneWayPrinterHealth:
    async def test_stuck_printer_stays_offline_after_the_port_reopens(
        self, one_way: tuple[PrinterSimulator, PrinterService, Path]
    ) -> None:
        """A write the printer stopped taking fails its job; the port reopens, and the printer still reads
        offline with the cashier told, until a later job is taken whole."""
        sim, printer, db = one_way
        await wait_until(lambda: printer.link.health().state == "online")
        sim.stall_after_bytes = sim.received_bytes + 10_000
        job = await printer.print_raw(e.init() + e.raster(Image.new("1", (512, 4000), 0)) + e.cut())
        await wait_until(lambda: _state(db, job) == "failed", within=15)  # the 5 s write timeout
        # The worker closes the port on the failure and reopens it on its next pass.
        await wait_until(lambda: printer.link.last_error is not None and printer.link.transport is not None)
        health = printer.link.health()
        assert health.state == "offline" and health.cashier_message == MESSAGES["off"]
        sim.stall_after_bytes = None
        sim.stall(False)
        later = await printer.test_print()
        await wait_until(lambda: _state(db, later) == "printed")
        assert printer.link.health().state == "online" and printer.link.health().cashier_message is None
