"""Printer simulator over a real pty and TCP: receipts printed back to text and PNG, DLE EOT answers."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from drivers.escpos import encode as e
from drivers.escpos.receipt import ReceiptLine, SaleReceipt, build_receipt
from drivers.escpos.status import paper_from
from drivers.simulators.printer import PrinterSimulator
from drivers.transport.serial import SerialTransport
from drivers.transport.tcp import TcpTransport

SALE = SaleReceipt(
    "0193a1b2-0000-7000-8000-000000000001",
    7,
    "テスト商店",
    1764034200000,
    "JPY",
    550,
    50,
    "cash",
    (ReceiptLine("お茶", 1, 550),),
    1000,
    450,
)


@pytest.fixture
async def printer(tmp_path: Path) -> PrinterSimulator:
    sim = PrinterSimulator()
    sim.start_pty(tmp_path / "printer")
    yield sim  # type: ignore[misc]
    await sim.stop()


class TestPrinterSimulator:
    async def test_receipt_over_pty_prints_and_renders(
        self, printer: PrinterSimulator, tmp_path: Path
    ) -> None:
        """A receipt written to the pty comes out as text lines and a PNG of the paper."""
        port = SerialTransport(printer.path)
        await port.open()
        await port.write(build_receipt(SALE))
        (text,) = await printer.wait_receipts(1)
        await port.close()
        assert (
            "テスト商店" in text and "お茶" in text and "¥450" in text and f"[QR {SALE.receipt_id}]" in text
        )
        png = printer.save_png(tmp_path / "paper.png")
        with Image.open(png) as img:
            assert img.width == 512 and img.height > 600
            assert img.convert("L").getextrema()[0] == 0  # something was printed black

    async def test_status_answers_follow_state(self, printer: PrinterSimulator) -> None:
        """DLE EOT 4 reports ok, near end and out as the simulated roll changes."""
        port = SerialTransport(printer.path)
        await port.open()
        seen = []
        for state in ("ok", "near_end", "out"):
            printer.paper = state  # type: ignore[assignment]
            await port.write(e.status_request(4))
            seen.append(paper_from((await port.read(1, 2.0))[0]))
        await port.close()
        assert seen == ["ok", "near_end", "out"]

    async def test_tcp_printer(self, printer: PrinterSimulator) -> None:
        """The same simulator listens on loopback TCP like a port-9100 printer."""
        host, port_no = await printer.start_tcp()
        port = TcpTransport(host, port_no)
        await port.open()
        await port.write(e.init() + e.textln("TCP OK") + e.cut())
        await port.write(e.status_request(2))
        assert await port.read(1, 2.0) == b"\x12"
        assert await printer.wait_receipts(1) == ["TCP OK"]
        await port.close()

    async def test_nothing_printed_with_cover_open(self, printer: PrinterSimulator) -> None:
        """With the cover open the data is lost (counted) but status is still answered."""
        printer.cover_open = True
        port = SerialTransport(printer.path)
        await port.open()
        await port.write(e.textln("lost") + e.status_request(2))
        answer = await port.read(1, 2.0)
        await port.close()
        assert answer[0] & 0x04 and printer.paper_roll.text() == "" and printer.dropped_bytes > 0
