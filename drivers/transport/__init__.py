"""Byte transports for devices: serial (pyserial), TCP (port 9100) and USB line printer (/dev/usb/lp*)."""

from __future__ import annotations

from typing import Protocol


class Transport(Protocol):
    """A byte link to one device; `two_way` says whether the device can answer (status queries)."""

    two_way: bool

    async def open(self) -> None: ...

    async def write(self, data: bytes) -> None: ...

    async def read(self, n: int, timeout: float) -> bytes: ...  # noqa: ASYNC109 - the device read's own timeout

    async def close(self) -> None: ...
