"""Scanner driver against the simulator over a real pty: codes, garbage, unplug and re-plug."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.errors import DeviceDisconnected
from drivers.scanner.serial import LineScanner
from drivers.simulators.scanner import ScannerSimulator
from drivers.transport.serial import SerialTransport


@pytest.fixture
async def sim(tmp_path: Path) -> ScannerSimulator:
    s = ScannerSimulator()
    s.start_pty(tmp_path / "scanner")
    yield s  # type: ignore[misc]
    await s.stop()


async def _open(sim: ScannerSimulator) -> LineScanner:
    port = SerialTransport(sim.path, 9600)
    await port.open()
    return LineScanner(port, idle=0.2)


class TestScanner:
    async def test_codes_in_order(self, sim: ScannerSimulator) -> None:
        """Each emitted code is read once, in order, whatever its terminator."""
        scanner = await _open(sim)
        sim.emit("4901234567894")
        sim.emit("https://pay.example/cpm/abc", b"\r")
        sim.emit("QR-3", b"\n")
        got = [await scanner.read_code(2.0) for _ in range(3)]
        await scanner.transport.close()
        assert got == ["4901234567894", "https://pay.example/cpm/abc", "QR-3"]

    async def test_half_code_then_silence_is_dropped(self, sim: ScannerSimulator) -> None:
        """A code cut off mid-way (no terminator, then silence) is dropped, the next full one arrives."""
        scanner = await _open(sim)
        sim.emit_raw(b"HALF-COD")
        assert await scanner.read_code(0.5) is None
        sim.emit("FULL")
        assert await scanner.read_code(2.0) == "FULL"
        await scanner.transport.close()

    async def test_unplug_and_replug(self, sim: ScannerSimulator) -> None:
        """Unplug makes the read fail DeviceDisconnected; after re-plug the same path works again."""
        scanner = await _open(sim)
        sim.unplug()
        with pytest.raises(DeviceDisconnected):
            await scanner.read_code(1.0)
        await scanner.transport.close()
        sim.replug()
        scanner = await _open(sim)
        sim.emit("AGAIN")
        assert await scanner.read_code(2.0) == "AGAIN"
        await scanner.transport.close()

    @settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(junk=st.binary(max_size=200))
    async def test_garbage_then_code(self, sim: ScannerSimulator, junk: bytes) -> None:
        """Random bytes before a code never crash the reader and the code after a line break arrives."""
        scanner = await _open(sim)
        sim.emit_raw(junk + b"\r\n")
        sim.emit("AFTER-GARBAGE")
        codes = []
        while (code := await scanner.read_code(1.0)) is not None:
            codes.append(code)
            if code == "AFTER-GARBAGE":
                break
        await scanner.transport.close()
        assert codes[-1] == "AFTER-GARBAGE"
        assert all(c.isascii() and c.isprintable() for c in codes)
