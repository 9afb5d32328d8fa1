"""USB line-printer transport (/dev/usb/lp*): plain file I/O on the port's worker thread."""

from __future__ import annotations

import contextlib
import os
import select

from drivers.errors import DeviceTimeout
from drivers.transport._threaded import PortWorker


class UsbLpTransport:
    """The kernel usblp device: writes go to the printer; reads return answers if it is bidirectional."""

    two_way = True

    def __init__(self, path: str, write_timeout: float = 5.0) -> None:
        self.path = path
        self.write_timeout = write_timeout
        self._worker = PortWorker(path)
        self._fd: int | None = None

    async def open(self) -> None:
        """Open the device node (DeviceDisconnected when it is absent)."""
        self._worker.start()
        self._fd = await self._worker.call(os.open, self.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)

    def _fd_or_fail(self) -> int:
        if self._fd is None:
            raise OSError("device is not open")
        return self._fd

    async def write(self, data: bytes) -> None:
        """Write all bytes, waiting up to write_timeout for the device to take each chunk."""
        await self._worker.call(self._write_sync, data)

    def _write_sync(self, data: bytes) -> None:
        fd, view = self._fd_or_fail(), memoryview(data)
        while view:
            if not select.select([], [fd], [], self.write_timeout)[1]:
                raise DeviceTimeout(f"{self.path}: printer not taking data")
            view = view[os.write(fd, view):]

    async def read(self, n: int, timeout: float) -> bytes:  # noqa: ASYNC109 - timeout is the device read's own
        """Up to n bytes within `timeout` seconds (b'' if none)."""
        return await self._worker.call(self._read_sync, n, timeout)

    def _read_sync(self, n: int, timeout: float) -> bytes:
        fd = self._fd_or_fail()
        if not select.select([fd], [], [], timeout)[0]:
            return b""
        data = os.read(fd, n)
        if not data:
            raise OSError("device returned no data (unplugged)")
        return data

    async def close(self) -> None:
        """Close the device; never raises."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(Exception):  # closing a vanished port may fail
                await self._worker.call(os.close, fd)
        self._worker.stop()
