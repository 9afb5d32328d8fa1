"""One device's link: open with retry, hot-plug (vanished path = offline), debounced health, backoff."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal

from drivers.errors import DeviceDisconnected, DriverError
from drivers.escpos.status import PaperState
from drivers.lograte import LogLimiter
from drivers.transport import Transport

_log = logging.getLogger("agent.adapters.devices")
DeviceState = Literal["connecting", "online", "offline", "faulty"]


@dataclass(frozen=True, slots=True)
class DeviceHealth:
    """Health of one device as the status page shows it (times are unix ms)."""

    name: str
    kind: str
    state: DeviceState
    last_ok_ms: int | None
    last_error: str | None
    paper: PaperState
    cashier_message: str | None


def present(path: str | None) -> bool:
    """True if the device node exists (or the device has none, like TCP); a stat, not an I/O wait."""
    return path is None or os.path.exists(path)


class Backoff:
    """Delay that doubles from `start` to `cap` and resets on success."""

    def __init__(self, start: float = 0.2, cap: float = 5.0) -> None:
        self.start, self.cap, self.delay = start, cap, start

    def next(self) -> float:
        """The delay to wait now; the following one doubles."""
        delay, self.delay = self.delay, min(self.delay * 2, self.cap)
        return delay

    def reset(self) -> None:
        """Back to the shortest delay."""
        self.delay = self.start


class DeviceLink:
    """Owns the transport of one device; every failure goes through `fail()` so health stays truthful."""

    def __init__(
        self, name: str, kind: str, make: Callable[[], Transport], *, path: str | None = None,
        debounce_s: float = 5.0, reopen_max_s: float = 5.0,
    ) -> None:
        self.name, self.kind, self.path = name, kind, path
        self._make = make
        self.debounce_s = debounce_s
        self.backoff = Backoff(cap=reopen_max_s)
        self.transport: Transport | None = None
        self.paper: PaperState = "unknown"
        self.last_ok_ms: int | None = None
        self.last_error: str | None = None
        self.cashier_message: str | None = None
        self.faulty = False
        self._down_since: float | None = time.monotonic()
        self._ever_up = False
        self.stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # A flapping device (loose cable, noisy status) goes down and back at will (docs/devices.md#logs).
        self.log = LogLimiter(_log)

    def start_task(self, work: Coroutine[Any, Any, None]) -> None:
        """Run the device's supervising loop in the background (it should end when `stopping` is set)."""
        self.stopping.clear()
        self._task = asyncio.get_running_loop().create_task(work, name=f"{self.kind}:{self.name}")
        self._task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        # A supervising loop only ends on stop; anything else is a bug: say so on the status page and log.
        if not task.cancelled() and task.exception() is not None:
            _log.error("%s %s supervisor crashed", self.kind, self.name, exc_info=task.exception())
            self.problem(f"{self.kind} driver stopped after an internal error; restart the agent.",
                         faulty=True)

    async def stop_task(self) -> None:
        """Stop the supervising loop and close the transport."""
        self.stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.close()

    async def ensure_open(self) -> Transport:
        """The open transport, opening it if needed (DeviceDisconnected when the device node is absent)."""
        if self.transport is not None:
            if present(self.path):
                return self.transport
            await self.fail(DeviceDisconnected(f"{self.path} vanished"))
        if not present(self.path):
            raise DeviceDisconnected(f"{self.path} is not present")
        transport = self._make()
        await transport.open()
        self.transport = transport
        return transport

    @property
    def down(self) -> bool:
        """True from a failure until the device answers again."""
        return self._down_since is not None

    @property
    def healthy(self) -> bool:
        """True while the last exchange with the device went well (not down, not faulty)."""
        return self._down_since is None and not self.faulty

    def ok(self, paper: PaperState | None = None, message: str | None = None) -> None:
        """The device just answered properly; `message` is a standing warning (e.g. paper near end)."""
        self.last_ok_ms = int(time.time() * 1000)
        if self._down_since is not None and self._ever_up:
            self.log.log(logging.INFO, "back", "%s %s is back", self.kind, self.name)
        self._down_since = None
        self._ever_up = True
        self.faulty = False
        self.backoff.reset()
        if paper is not None:
            self.paper = paper
        self.cashier_message = message

    def problem(self, message: str, faulty: bool = False) -> None:
        """The device is connected but cannot work (paper out, cover open, garbled answers)."""
        self.last_error = message
        self.cashier_message = message
        self.faulty = faulty

    async def fail(self, err: DriverError, message: str | None = None) -> None:
        """The link broke: close it, remember why; the caller retries after `backoff.next()`."""
        transport, self.transport = self.transport, None
        if transport is not None:
            with contextlib.suppress(Exception):  # closing a dead port may fail; it is gone either way
                await transport.close()
        if self._down_since is None:
            self._down_since = time.monotonic()
            # Driver errors carry paths and errno texts only, never device payloads (no card data can leak).
            self.log.log(logging.WARNING, "down", "%s %s went down: %s: %s", self.kind, self.name,
                         type(err).__name__, err)
        self.last_error = f"{type(err).__name__}: {err}"
        self.cashier_message = message or err.cashier_message

    async def wait_retry(self, stop: asyncio.Event) -> None:
        """Sleep the backoff delay, returning early when `stop` is set."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), self.backoff.next())

    def health(self) -> DeviceHealth:
        """Current health; a disconnect younger than debounce_s still reads as online."""
        down = self._down_since
        if self.faulty:
            state: DeviceState = "faulty"
        elif down is None or (self._ever_up and time.monotonic() - down < self.debounce_s):
            state = "online"  # up, or down for less than debounce_s (a blip is not reported)
        else:
            state = "offline" if self._ever_up or self.last_error else "connecting"
        message = None if state == "online" and down is not None else self.cashier_message
        return DeviceHealth(
            self.name, self.kind, state, self.last_ok_ms, self.last_error, self.paper, message)

    async def close(self) -> None:
        """Close the transport for good."""
        transport, self.transport = self.transport, None
        if transport is not None:
            with contextlib.suppress(Exception):  # best effort at shutdown
                await transport.close()
