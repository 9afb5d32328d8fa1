"""ESC/POS printer simulator on a pty or TCP: prints to a parsed Paper, answers DLE EOT, renders PNG."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Literal

from drivers.simulators.base import PtySimulator
from drivers.simulators.escpos_parse import EscPosParser, Paper
from drivers.simulators.render import render_png

_DLE_EOT = b"\x10\x04"


class PrinterSimulator(PtySimulator):
    """A receipt printer. Set `paper`, `cover_open`, `powered` to script faults; read `paper_roll`."""

    def __init__(self) -> None:
        super().__init__()
        self.paper: Literal["ok", "near_end", "out"] = "ok"
        self.cover_open = False
        self.powered = True
        self.dropped_bytes = 0
        self.status_override: bytes | None = None  # answer every status request with these bytes instead
        self.stall_after_bytes: int | None = None  # stop reading once this many bytes came (buffer full)
        self.received_bytes = 0
        self._parser = EscPosParser(on_status=self._status)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._reply = self.send
        self._changed = asyncio.Event()

    @property
    def paper_roll(self) -> Paper:
        """Everything printed so far."""
        return self._parser.paper

    @property
    def can_print(self) -> bool:
        """False while off, out of paper or with the cover open (data is then lost)."""
        return self.powered and self.paper != "out" and not self.cover_open

    def on_bytes(self, data: bytes) -> None:
        """Print what arrives, or only answer status requests while unable to print."""
        if not self.powered:
            return
        self.received_bytes += len(data)
        if self.stall_after_bytes is not None and self.received_bytes >= self.stall_after_bytes:
            self.stall()
        if self.can_print:
            self._parser.feed(data)
        else:
            self.dropped_bytes += len(data)
            start = data.find(_DLE_EOT)
            while start >= 0 and start + 2 < len(data):
                self._status(data[start + 2])
                start = data.find(_DLE_EOT, start + 3)
        self._changed.set()

    def _status(self, n: int) -> None:
        out, cover = self.paper == "out", self.cover_open
        byte = {
            1: 0x08 if out or cover else 0,
            2: (0x04 if cover else 0) | (0x20 if out else 0),
            3: 0,
            4: (0x60 if out else 0) | (0x0C if self.paper == "near_end" else 0),
        }.get(n)
        if byte is not None:
            override = self.status_override
            self._reply(override if override is not None else bytes((0x12 | byte,)))

    async def start_tcp(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Listen like a network printer (raw port 9100 style); returns (host, port)."""
        self._server = await asyncio.start_server(self._client, host, port)
        sock = self._server.sockets[0].getsockname()
        return str(sock[0]), int(sock[1])

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.powered:
            writer.close()
            return
        self._writers.add(writer)
        self._reply = writer.write
        try:
            while data := await reader.read(65536):
                self.on_bytes(data)
        except OSError:
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    def replug(self) -> str:
        """Plug back in; a command cut off by the unplug is dropped, as a printer's receive timeout does."""
        self._parser.drop_partial()
        return super().replug()

    def power_off(self) -> None:
        """Switch off: no answers, nothing printed, TCP connections dropped."""
        self.powered = False
        for writer in list(self._writers):
            writer.close()

    def power_on(self) -> None:
        """Switch back on."""
        self.powered = True

    async def wait_receipts(self, count: int, timeout: float = 5.0) -> list[str]:  # noqa: ASYNC109 - test helper
        """Wait until `count` receipts were cut (TimeoutError otherwise); returns all receipt texts."""
        async with asyncio.timeout(timeout):
            while len(self.paper_roll.receipts()) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.paper_roll.receipts()

    def save_png(self, path: Path) -> Path:
        """Render the paper roll so far to a PNG."""
        return render_png(self.paper_roll.elements, path)

    async def stop(self) -> None:
        """Unplug the pty and close the TCP listener."""
        self.unplug()
        self.power_off()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
