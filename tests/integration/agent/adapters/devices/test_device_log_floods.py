"""Floods from outside devices over real ptys write a bounded number of log lines (docs/devices.md#logs).

Each flood below is processed well within the limiter's 60 s interval (the waits are bounded far below it),
so each kind of line is logged once however many times the device repeats it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.adapters.devices import Devices, build_devices
from agent.adapters.store import AgentDatabase
from agent.services.qr_scan import ScanWaiter
from drivers.cardreader.frame import encode_frame
from drivers.simulators.cardreader import CardReaderSimulator, CardRules
from drivers.simulators.scanner import ScannerSimulator
from tests.integration.drivers.helpers import wait_until

FLOOD = 5000


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[tuple[Devices, CardReaderSimulator, ScannerSimulator]]:
    card = CardReaderSimulator(CardRules(present_delay=0.01))
    scan = ScannerSimulator()
    config = {
        "reopen_max_s": 0.2,
        "card_reader": {"path": card.start_pty(tmp_path / "reader"), "ack_timeout_s": 0.2, "retries": 2,
                        "result_timeout_s": 5.0, "cancel_grace_s": 1.0},
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


def _records(caplog: pytest.LogCaptureFixture, logger: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == logger]


class TestScannerFloods:
    async def test_garbage_flood_logs_once_and_reads_faulty_until_a_good_scan(
        self, rig: tuple[Devices, CardReaderSimulator, ScannerSimulator], caplog: pytest.LogCaptureFixture
    ) -> None:
        """5,000 unreadable lines: one log line, the scanner reads faulty; a readable code clears it."""
        devices, _, scan = rig
        scanner = devices.scanner
        assert scanner is not None
        caplog.set_level(logging.INFO)
        codes = scanner.codes()
        await wait_until(lambda: devices.manager.health()["scanner"].state == "online")
        scan.emit_raw(b"\xff\xfe\x00 noise\r\n" * FLOOD)
        await wait_until(lambda: scanner.rejected >= FLOOD, within=30)
        assert len(_records(caplog, "agent.adapters.devices.scanner")) == 1
        health = devices.manager.health()["scanner"]
        assert health.state == "faulty" and health.cashier_message
        scan.emit("GOOD-CODE-1")
        assert await asyncio.wait_for(anext(codes), 5) == "GOOD-CODE-1"
        await wait_until(lambda: devices.manager.health()["scanner"].state == "online")

    async def test_unrecognised_scan_flood_logs_once(
        self, rig: tuple[Devices, CardReaderSimulator, ScannerSimulator], caplog: pytest.LogCaptureFixture
    ) -> None:
        """5,000 readable scans that are not customer codes: counted, but one log line; a real code still
        reaches the sale waiting for it."""
        devices, _, scan = rig
        assert devices.scanner is not None
        caplog.set_level(logging.INFO)
        waiter = ScanWaiter(devices.scanner)
        waiter.start()
        try:
            await wait_until(lambda: devices.manager.health()["scanner"].state == "online")
            waiting = asyncio.get_running_loop().create_task(waiter.next_code(30))
            await wait_until(lambda: waiter.waiting)
            scan.emit_raw(b"not a code\r\n" * FLOOD)
            scan.emit("CPM-AFTER-FLOOD")
            assert await waiting == "CPM-AFTER-FLOOD"
        finally:
            await waiter.stop()
        assert waiter.rejected > 100  # the flood did reach the waiter (the bounded queue may drop the oldest)
        assert len(_records(caplog, "agent.services.qr_scan")) == 1


class TestCardReaderFloods:
    async def test_bad_frame_flood_logs_once_and_names_no_field(
        self, rig: tuple[Devices, CardReaderSimulator, ScannerSimulator], caplog: pytest.LogCaptureFixture
    ) -> None:
        """Hundreds of bad frames during a sale: each is NAKed, one log line says so without the payload."""
        devices, card, _ = rig
        reader = devices.card_reader
        assert reader is not None
        caplog.set_level(logging.INFO)
        card.rules.mode = "timeout"  # the reader waits for a card; only a cancel ends the sale
        sale = asyncio.get_running_loop().create_task(reader.authorize(100, "JPY", "flood-1"))
        await wait_until(lambda: len(card.sales) == 1)
        bad = bytearray(encode_frame(b'{"brand":"4111111111111111"}'))
        bad[-1] ^= 0xFF
        card.send(bytes(bad) * 500)
        result = await asyncio.wait_for(sale, 15)
        assert result.status == "declined" and card.naks_received > 20
        lines = _records(caplog, "drivers.cardreader")
        assert len(lines) == 1 and "4111" not in lines[0].getMessage()
