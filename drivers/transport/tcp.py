"""TCP transport (raw port 9100 printers) on asyncio streams."""

from __future__ import annotations

import asyncio
import contextlib

from drivers.errors import DeviceDisconnected, DeviceTimeout


class TcpTransport:
    """A raw TCP socket to a network printer: open / write / read(n, timeout) / close."""

    two_way = True

    def __init__(self, host: str, port: int = 9100, connect_timeout: float = 3.0,
                 write_timeout: float = 5.0) -> None:
        self.host, self.port = host, port
        self.connect_timeout, self.write_timeout = connect_timeout, write_timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    @property
    def name(self) -> str:
        """host:port for messages."""
        return f"{self.host}:{self.port}"

    async def open(self) -> None:
        """Connect (DeviceTimeout / DeviceDisconnected when the printer is off or unreachable)."""
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), self.connect_timeout)
        except TimeoutError as err:
            raise DeviceTimeout(f"{self.name}: connect timed out") from err
        except OSError as err:
            raise DeviceDisconnected(f"{self.name}: {err}") from err

    async def write(self, data: bytes) -> None:
        """Send all bytes and wait until the socket buffer drained."""
        if self._writer is None:
            raise DeviceDisconnected(f"{self.name}: not open")
        try:
            self._writer.write(data)
            await asyncio.wait_for(self._writer.drain(), self.write_timeout)
        except TimeoutError as err:
            raise DeviceTimeout(f"{self.name}: write timed out") from err
        except OSError as err:
            raise DeviceDisconnected(f"{self.name}: {err}") from err

    async def read(self, n: int, timeout: float) -> bytes:  # noqa: ASYNC109 - timeout is the device read's own
        """Up to n bytes within `timeout` seconds (b'' if none); DeviceDisconnected when the peer closed."""
        if self._reader is None:
            raise DeviceDisconnected(f"{self.name}: not open")
        try:
            data = await asyncio.wait_for(self._reader.read(n), timeout)
        except TimeoutError:
            return b""
        except OSError as err:
            raise DeviceDisconnected(f"{self.name}: {err}") from err
        if not data:
            raise DeviceDisconnected(f"{self.name}: connection closed by printer")
        return data

    async def close(self) -> None:
        """Close the socket; never raises."""
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):  # closing a vanished port may fail
                await asyncio.wait_for(writer.wait_closed(), 1.0)
