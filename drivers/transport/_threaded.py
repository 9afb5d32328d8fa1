"""One worker thread per port: blocking device calls run there, never on the event loop."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import serial

from drivers.errors import DeviceDisconnected, DeviceTimeout, DriverError

T = TypeVar("T")


class PortWorker:
    """Runs calls for one port on its own single thread and translates library errors once, here."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._executor: ThreadPoolExecutor | None = None

    def start(self) -> None:
        """Start the port's thread (idempotent)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"port:{self.name}")

    async def call(self, fn: Callable[..., T], *args: object) -> T:
        """Run fn(*args) on the port's thread; map pyserial/OS errors to DeviceTimeout/DeviceDisconnected."""
        if self._executor is None:
            raise DeviceDisconnected(f"{self.name}: not open")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, functools.partial(fn, *args))
        except serial.SerialTimeoutException as err:
            raise DeviceTimeout(f"{self.name}: write timed out") from err
        except (serial.SerialException, OSError, ValueError, TypeError, AttributeError) as err:
            # ValueError/TypeError/AttributeError: pyserial's own state errors on a port closed under it.
            raise DeviceDisconnected(f"{self.name}: {type(err).__name__}: {err}") from err
        except DriverError:
            raise

    def stop(self) -> None:
        """Let the thread finish its current call and exit."""
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None
