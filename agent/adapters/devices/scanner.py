"""Scanner service: ScannerPort over a supervised serial (or evdev) scanner; codes survive re-plugs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from agent.adapters.devices.config import ScannerConfig
from agent.adapters.devices.link import DeviceLink
from drivers.errors import DriverError
from drivers.lograte import LogLimiter
from drivers.scanner.evdev_wedge import EvdevScanner, evdev_available
from drivers.scanner.serial import LineScanner
from drivers.transport.serial import SerialTransport

UNAVAILABLE = "Keyboard-wedge scanner needs the python evdev module, which is not installed."
GARBLED = "Scanner sends unreadable data: check its baud rate and settings, or reconnect it."
GARBLED_AFTER = 3  # unreadable lines in a row, with no readable code between, before the scanner reads faulty
_log = logging.getLogger("agent.adapters.devices.scanner")


class ScannerService:
    """Reads codes in the background into a bounded queue; `codes()` yields them."""

    def __init__(self, cfg: ScannerConfig, name: str = "scanner", reopen_max_s: float = 5.0) -> None:
        self.cfg = cfg
        self.link = DeviceLink(name, "scanner", lambda: SerialTransport(cfg.path, cfg.baudrate),
                               path=cfg.path, debounce_s=2.0, reopen_max_s=reopen_max_s)
        # Bounded: if nobody reads, the oldest scans are dropped rather than memory growing.
        self._codes: asyncio.Queue[str] = asyncio.Queue(maxsize=100)
        self.rejected = 0  # unreadable lines since start (not printable ASCII, or too long)
        self._garbled = 0  # unreadable lines since the last readable code
        self.log = LogLimiter(_log)  # the scanner can send garbage at will (docs/devices.md#logs)

    async def codes(self) -> AsyncIterator[str]:
        """Scanned codes, one per CR/LF-terminated line, as they arrive."""
        while True:
            yield await self._codes.get()

    def _put(self, code: str) -> None:
        if self._codes.full():
            self._codes.get_nowait()
        self._codes.put_nowait(code)

    async def start(self) -> None:
        """Start reading in the background."""
        self.link.start_task(self._run_evdev() if self.cfg.transport == "evdev" else self._run_serial())

    async def stop(self) -> None:
        """Stop reading and close the port."""
        await self.link.stop_task()

    async def _run_serial(self) -> None:
        while not self.link.stopping.is_set():
            try:
                scanner = LineScanner(await self.link.ensure_open())
                self._heard(None, 0)
                while not self.link.stopping.is_set():
                    seen = scanner.splitter.rejected
                    code = await scanner.read_code(1.0)
                    await self.link.ensure_open()  # notices a vanished device node between scans
                    self._heard(code, scanner.splitter.rejected - seen)
                    if code is not None:
                        self._put(code)
            except DriverError as err:
                await self.link.fail(err, "Scanner cable unplugged: reconnect the scanner.")
                await self.link.wait_retry(self.link.stopping)

    def _heard(self, code: str | None, unreadable: int) -> None:
        """Health from what the scanner last sent: faulty after GARBLED_AFTER unreadable lines in a row,
        online again with the next readable code. A one-way device: an open port with silence is online."""
        if unreadable:
            self.rejected += unreadable
            self._garbled += unreadable
            self.log.log(logging.WARNING, "unreadable", "%s %s sent %d unreadable line(s)", self.link.kind,
                         self.link.name, unreadable)
        if code is not None:
            self._garbled = 0
        if self._garbled >= GARBLED_AFTER:
            self.link.problem(GARBLED, faulty=True)
        else:
            self.link.ok()

    async def _run_evdev(self) -> None:
        if not evdev_available():
            self.link.problem(UNAVAILABLE, faulty=True)
            return
        while not self.link.stopping.is_set():
            try:
                self.link.ok()
                async for code in EvdevScanner(self.cfg.path).codes():
                    self._put(code)
            except DriverError as err:
                await self.link.fail(err, "Scanner unplugged: reconnect the scanner.")
                await self.link.wait_retry(self.link.stopping)
