"""A scanner on a byte transport (serial or pty) speaking CR/LF-terminated lines."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator

from drivers.scanner.lines import LineSplitter
from drivers.transport import Transport


class LineScanner:
    """Reads codes from a transport; a half code followed by `idle` seconds of silence is dropped."""

    def __init__(self, transport: Transport, idle: float = 0.5, max_len: int = 512) -> None:
        self.transport = transport
        self.idle = idle
        self.splitter = LineSplitter(max_len)
        self._ready: deque[str] = deque()

    async def read_code(self, within: float) -> str | None:
        """The next code, or None if none arrived within `within` seconds; DriverError if the link fails."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not self._ready:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            data = await self.transport.read(256, min(self.idle, remaining))
            if data:
                self._ready.extend(self.splitter.feed(data))
            else:
                self.splitter.drop_partial()
        return self._ready.popleft()

    async def codes(self) -> AsyncIterator[str]:
        """Codes forever, as they are scanned (ends only by the link failing)."""
        while True:
            code = await self.read_code(3600.0)
            if code is not None:
                yield code
