"""Serial transport over pyserial; every pyserial call runs on the port's own worker thread."""

from __future__ import annotations

import asyncio
import contextlib
import os

import serial

from drivers.errors import DeviceDisconnected
from drivers.transport._threaded import PortWorker

_VANISH_CHECK_S = 0.2


class SerialTransport:
    """A serial port (real, USB-serial, or a pty): open / write / read(n, timeout) / close."""

    two_way = True

    def __init__(self, path: str, baudrate: int = 19200, write_timeout: float = 5.0) -> None:
        self.path = path
        self.baudrate = baudrate
        self.write_timeout = write_timeout
        self._worker = PortWorker(path)
        self._port: serial.Serial | None = None

    async def open(self) -> None:
        """Open the port (raises DeviceDisconnected when it is not there)."""
        self._worker.start()
        self._port = await self._worker.call(self._open_sync)

    def _open_sync(self) -> serial.Serial:
        return serial.Serial(self.path, self.baudrate, timeout=0.1, write_timeout=self.write_timeout)

    def _port_or_fail(self) -> serial.Serial:
        if self._port is None:
            raise serial.SerialException("port is not open")
        return self._port

    async def write(self, data: bytes) -> None:
        """Write all bytes: DeviceTimeout if the device stops taking them, DeviceDisconnected if it goes."""
        writing = asyncio.ensure_future(self._worker.call(self._write_sync, data))
        while True:
            done, _ = await asyncio.wait({writing}, timeout=_VANISH_CHECK_S)
            if done:
                break
            self._abort_if_vanished()
        if writing.result() < len(data):
            raise DeviceDisconnected(f"{self.path}: vanished mid-write")

    def _abort_if_vanished(self) -> None:
        # A write blocked on a full buffer misses the hang-up: abort it through pyserial's cancel pipe.
        if self._port is not None and not os.path.exists(self.path):
            self._port.cancel_write()

    def _write_sync(self, data: bytes) -> int:
        return int(self._port_or_fail().write(data) or 0)

    async def read(self, n: int, timeout: float) -> bytes:  # noqa: ASYNC109 - timeout is the device read's own
        """Up to n bytes: what arrived within `timeout` seconds (b'' if nothing did)."""
        return await self._worker.call(self._read_sync, n, timeout)

    def _read_sync(self, n: int, timeout: float) -> bytes:
        port = self._port_or_fail()
        if port.timeout != timeout:
            port.timeout = timeout
        first: bytes = port.read(1)
        if not first or n == 1:
            return first
        waiting = port.in_waiting
        return first + (port.read(min(waiting, n - 1)) if waiting else b"")

    async def close(self) -> None:
        """Close the port and its thread; never raises."""
        port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(Exception):  # closing a vanished port may fail
                await self._worker.call(port.close)
        self._worker.stop()
