"""Serial transport over real pseudo-terminals: bytes both ways, timeouts, unplug, vanish mid-write."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drivers.errors import DeviceDisconnected
from drivers.simulators.pty import PtyDevice
from drivers.transport.serial import SerialTransport
from drivers.transport.usblp import UsbLpTransport


class Capture:
    """A pty device that records what the driver sent."""

    def __init__(self, link: Path) -> None:
        self.received = bytearray()
        self.pty = PtyDevice(self.received.extend, link)


@pytest.fixture
async def capture(tmp_path: Path) -> AsyncIterator[Capture]:
    cap = Capture(tmp_path / "ttyDEV")
    cap.pty.plug()
    yield cap
    cap.pty.unplug()


class TestSerialTransport:
    async def test_bytes_both_ways(self, capture: Capture) -> None:
        """What the driver writes reaches the device; what the device sends is read back."""
        port = SerialTransport(capture.pty.path)
        await port.open()
        await port.write(b"\x1b@hello")
        capture.pty.write(b"\x12")
        assert await port.read(1, 2.0) == b"\x12"
        await asyncio.sleep(0.05)
        assert capture.received == b"\x1b@hello"
        await port.close()

    async def test_read_timeout_returns_empty_without_blocking_loop(self, capture: Capture) -> None:
        """A read with nothing to read returns b'' and the event loop keeps running meanwhile."""
        port = SerialTransport(capture.pty.path)
        await port.open()
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        ticker = asyncio.get_running_loop().create_task(tick())
        assert await port.read(16, 0.3) == b""
        ticker.cancel()
        assert ticks >= 5
        await port.close()

    async def test_unplug_makes_read_fail_disconnected(self, capture: Capture) -> None:
        """Closing the pty master (unplug) turns the next read into DeviceDisconnected."""
        port = SerialTransport(capture.pty.path)
        await port.open()
        capture.pty.unplug()
        with pytest.raises(DeviceDisconnected):
            await port.read(1, 1.0)
        await port.close()

    async def test_vanish_mid_write(self, tmp_path: Path) -> None:
        """A port vanishing during a long write (after its first bytes arrived) is DeviceDisconnected."""
        dev = PtyDevice(lambda data: dev.unplug(), tmp_path / "ttyVANISH")
        dev.plug()
        port = SerialTransport(dev.path)
        await port.open()
        with pytest.raises(DeviceDisconnected):
            await port.write(b"x" * 2_000_000)
        await port.close()

    async def test_open_missing_path(self, tmp_path: Path) -> None:
        """Opening a path that does not exist is DeviceDisconnected."""
        with pytest.raises(DeviceDisconnected):
            await SerialTransport(str(tmp_path / "nothing")).open()

    async def test_replug_same_link(self, capture: Capture) -> None:
        """After unplug and re-plug the same symlink path opens the new pty."""
        capture.pty.unplug()
        capture.pty.plug()
        port = SerialTransport(capture.pty.path)
        await port.open()
        capture.pty.write(b"ok")
        assert await port.read(2, 2.0) == b"ok"
        await port.close()


class TestUsbLpTransport:
    async def test_write_and_read_on_a_char_device(self, capture: Capture) -> None:
        """usblp does plain file I/O on a character device (a pty stands in for /dev/usb/lp0)."""
        port = UsbLpTransport(capture.pty.path)
        await port.open()
        await port.write(b"\x10\x04\x04")
        capture.pty.write(b"\x12")
        assert await port.read(1, 2.0) == b"\x12"
        await asyncio.sleep(0.05)
        assert capture.received == b"\x10\x04\x04"
        await port.close()

    async def test_missing_device(self, tmp_path: Path) -> None:
        """An absent /dev/usb/lp node is DeviceDisconnected."""
        with pytest.raises(DeviceDisconnected):
            await UsbLpTransport(str(tmp_path / "lp0")).open()
