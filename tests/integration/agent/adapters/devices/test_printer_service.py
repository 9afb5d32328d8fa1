"""Printer service end to end over a real pty (and TCP): exactly-once printing through every printer fault."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from agent.adapters.devices import Devices, build_devices
from agent.adapters.devices.config import parse_devices_config
from agent.adapters.devices.printer import MESSAGES, PrinterService
from agent.adapters.store import AgentDatabase
from agent.domain.ports import ReceiptLine, SaleReceipt
from drivers.errors import DriverError
from drivers.escpos import encode as e
from drivers.simulators.printer import PrinterSimulator
from tests.integration.drivers.helpers import wait_until


def _sale(n: int, method: str = "cash") -> SaleReceipt:
    return SaleReceipt(
        f"sale-{n}",
        n,
        "テスト商店",
        1764034200000,
        "JPY",
        1100,
        100,
        method,
        (ReceiptLine("お茶", 2, 1100),),
        2000 if method == "cash" else None,
        900 if method == "cash" else None,
    )


def _states(db: Path) -> dict[str, str]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT job_id, state FROM print_jobs").fetchall())


Start = Callable[..., Any]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[tuple[PrinterSimulator, Start, Path]]:
    sim = PrinterSimulator()
    path = sim.start_pty(tmp_path / "by-id-printer")
    db = tmp_path / "agent.sqlite3"
    database = await AgentDatabase.open(db)
    started: list[Devices] = []

    async def start(**printer: Any) -> PrinterService:
        cfg = {"transport": "serial", "path": path, "debounce_s": 0.3, "status_poll_s": 0.1, **printer}
        devices = build_devices({"printer": cfg, "reopen_max_s": 0.2}, database)
        await devices.manager.start()
        started.append(devices)
        assert devices.printer is not None
        return devices.printer

    yield sim, start, db
    for devices in started:
        await devices.manager.stop()
    await database.close()
    await sim.stop()


class TestPrinterService:
    async def test_cash_sale_prints_once_and_kicks_drawer(
        self, rig: tuple[PrinterSimulator, Start, Path]
    ) -> None:
        """A cash receipt prints once, the drawer opens, the job is 'printed'; asking again gives that job."""
        sim, start, db = rig
        printer = await start()
        job = await printer.print_receipt(_sale(1))
        assert await printer.print_receipt(_sale(1)) == job
        (text,) = await sim.wait_receipts(1)
        await wait_until(lambda: _states(db) == {job: "printed"})
        assert "お茶" in text and sim.paper_roll.drawer_kicks == 1
        assert printer.link.health().state == "online"

    async def test_paper_out_waits_then_prints_once(self, rig: tuple[PrinterSimulator, Start, Path]) -> None:
        """Out of paper: the job waits and the cashier is told; a new roll prints it exactly once."""
        sim, start, db = rig
        sim.paper = "out"
        printer = await start()
        job = await printer.print_receipt(_sale(2))
        await wait_until(lambda: printer.link.health().cashier_message == MESSAGES["paper_out"])
        assert printer.link.health().paper == "out" and _states(db)[job] == "queued"
        sim.paper = "ok"
        await sim.wait_receipts(1)
        await wait_until(lambda: _states(db)[job] == "printed")
        assert len(sim.paper_roll.receipts()) == 1 and printer.link.health().cashier_message is None

    async def test_cover_open_and_near_end_messages(self, rig: tuple[PrinterSimulator, Start, Path]) -> None:
        """Cover open blocks printing with its own message; paper near end prints with a warning."""
        sim, start, _ = rig
        sim.cover_open = True
        printer = await start()
        await wait_until(lambda: printer.link.health().cashier_message == MESSAGES["cover_open"])
        sim.cover_open, sim.paper = False, "near_end"
        await wait_until(lambda: printer.link.health().cashier_message == MESSAGES["near_end"])

    async def test_unplug_reported_after_debounce_and_replug_prints(
        self, rig: tuple[PrinterSimulator, Start, Path]
    ) -> None:
        """Unplugged: offline with 'cable unplugged'; the job waits; re-plugged, it prints once."""
        sim, start, db = rig
        printer = await start(hold_after_s=60)
        await wait_until(lambda: printer.link.health().state == "online")
        sim.unplug()
        await wait_until(lambda: printer.link.health().state == "offline")
        assert printer.link.health().cashier_message == MESSAGES["unplugged"]
        job = await printer.print_receipt(_sale(3))
        sim.replug()
        await sim.wait_receipts(1)
        await wait_until(lambda: _states(db)[job] == "printed")
        assert printer.link.health().state == "online"

    async def test_short_disconnect_is_debounced(self, rig: tuple[PrinterSimulator, Start, Path]) -> None:
        """A blip shorter than debounce_s never shows the printer as gone."""
        sim, start, _ = rig
        printer = await start(debounce_s=30)
        await wait_until(lambda: printer.link.health().state == "online")
        sim.unplug()
        await wait_until(lambda: printer.link.last_error is not None)
        assert printer.link.health().state == "online" and printer.link.health().cashier_message is None
        sim.replug()
        await printer.print_receipt(_sale(4))
        await sim.wait_receipts(1)

    async def test_job_older_than_hold_age_is_held_not_printed(
        self, rig: tuple[PrinterSimulator, Start, Path]
    ) -> None:
        """A job that waited past hold_after_s while the printer was away is held; reprint prints it once."""
        sim, start, db = rig
        sim.unplug()
        printer = await start(hold_after_s=0.3)
        job = await printer.print_receipt(_sale(5))
        await wait_until(lambda: printer.link.health().state == "offline")
        await asyncio.sleep(0.4)  # the job ages past hold_after_s while the printer is away
        sim.replug()
        await wait_until(lambda: _states(db)[job] == "held")
        assert sim.paper_roll.receipts() == []
        assert await printer.reprint(job) == job
        await sim.wait_receipts(1)
        await wait_until(lambda: _states(db)[job] == "printed")

    async def test_vanish_mid_write_fails_job_without_reprinting(
        self, rig: tuple[PrinterSimulator, Start, Path]
    ) -> None:
        """Port gone mid-job: the job is 'failed' and is not resent on its own when the printer returns."""
        sim, start, db = rig
        printer = await start()
        await wait_until(lambda: printer.link.health().state == "online")
        sim.stall_after_bytes = sim.received_bytes + 10_000
        big = e.init() + e.raster(Image.new("1", (512, 4000), 0)) + e.cut()
        job = await printer.print_raw(big)
        await wait_until(lambda: _states(db)[job] == "printing")
        sim.unplug()
        await wait_until(lambda: _states(db)[job] == "failed")
        sim.stall_after_bytes = None
        sim.replug()
        later = await printer.print_receipt(_sale(6))
        await wait_until(lambda: _states(db)[later] == "printed")
        assert _states(db)[job] == "failed"
        failed = await printer.queue.get(job)
        assert failed is not None and failed.attempts == 1 and failed.last_error == MESSAGES["unplugged"]

    async def test_power_off_and_garbled_status(self, rig: tuple[PrinterSimulator, Start, Path]) -> None:
        """No status answer reads as 'switched off'; garbage answers mark it faulty; both recover."""
        sim, start, _ = rig
        printer = await start(debounce_s=0.1)
        await wait_until(lambda: printer.link.health().state == "online")
        sim.power_off()
        await wait_until(lambda: printer.link.health().cashier_message == MESSAGES["off"])
        sim.power_on()
        await wait_until(lambda: printer.link.health().state == "online")
        sim.status_override = b"\xff"
        await wait_until(lambda: printer.link.health().cashier_message == MESSAGES["garbled"])
        sim.status_override = None
        await wait_until(lambda: printer.link.health().cashier_message is None)
        assert printer.link.health().state == "online"

    async def test_restart_holds_job_left_printing(self, rig: tuple[PrinterSimulator, Start, Path]) -> None:
        """After a crash mid-print the job is held on restart, never blindly printed again."""
        sim, start, db = rig
        sim.unplug()
        printer = await start()
        job = await printer.print_receipt(_sale(7))
        await printer.queue.move(job, "printing", ("queued",))
        await printer.stop()
        sim.replug()
        await start()
        await wait_until(lambda: _states(db)[job] == "held")
        assert sim.paper_roll.receipts() == []


    async def test_locked_database_keeps_worker_alive(
        self, rig: tuple[PrinterSimulator, Start, Path]
    ) -> None:
        """A queue write blocked past busy_timeout is reported; the job prints once the lock is gone."""
        sim, start, db = rig
        sim.unplug()
        printer = await start()
        job = await printer.print_receipt(_sale(10))
        await printer.queue.store.database.writer.outside_transaction(
            lambda conn: conn.execute("PRAGMA busy_timeout = 50"))
        other = await aiosqlite.connect(str(db), isolation_level=None)
        await other.execute("BEGIN IMMEDIATE")
        sim.replug()
        await wait_until(lambda: "Print queue error" in (printer.link.health().cashier_message or ""))
        await other.execute("COMMIT")
        await other.close()
        await sim.wait_receipts(1)
        await wait_until(lambda: _states(db)[job] == "printed")
        assert len(sim.paper_roll.receipts()) == 1

class TestTcpPrinter:
    async def test_prints_over_tcp_and_reports_off(self, tmp_path: Path) -> None:
        """A network printer prints; switched off, the cashier is told it is off or its cable is out."""
        sim = PrinterSimulator()
        host, port = await sim.start_tcp()
        cfg = {"transport": "tcp", "host": host, "port": port, "debounce_s": 0.1, "status_poll_s": 0.1}
        database = await AgentDatabase.open(tmp_path / "agent.sqlite3")
        devices = build_devices({"printer": cfg, "reopen_max_s": 0.2}, database)
        await devices.manager.start()
        try:
            assert devices.printer is not None
            await devices.printer.print_receipt(_sale(8, "card"))
            await sim.wait_receipts(1)
            await sim.stop()
            await wait_until(lambda: devices.manager.health()["printer"].state == "offline")
            assert devices.manager.health_json()["printer"]["cashier_message"] in (
                MESSAGES["network"],
                MESSAGES["off"],
            )
        finally:
            await devices.manager.stop()
            await database.close()


class TestPrinterGarbage:
    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(noise=st.binary(max_size=6))
    async def test_random_status_answers_never_double_print(self, tmp_path: Path, noise: bytes) -> None:
        """Whatever bytes answer the status query, a pass prints its job or fails cleanly; it prints once."""
        sim = PrinterSimulator()
        path = sim.start_pty(tmp_path / f"noise-{noise.hex()}")
        cfg = parse_devices_config({"printer": {"transport": "serial", "path": path}}).printer
        assert cfg is not None
        database = await AgentDatabase.open(tmp_path / f"noise-{noise.hex()}.sqlite3")
        printer = PrinterService(cfg, database)
        try:
            job = await printer.print_receipt(_sale(9))
            sim.status_override = noise
            with contextlib.suppress(DriverError):
                await printer.print_once()
            await printer.link.close()
            sim.status_override = None
            await printer.print_once()
            assert (await printer.queue.get(job)).state == "printed"  # type: ignore[union-attr]
            assert len(await sim.wait_receipts(1)) == 1
        finally:
            await printer.link.close()
            await database.close()
            await sim.stop()
