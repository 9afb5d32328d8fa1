"""The scanner as the QR CPM flow sees it: one waiter at a time gets the NEXT scanned code.

A background task reads ScannerPort.codes() for the whole life of the agent. A code that arrives while no
sale is waiting is dropped (counted), so a stale scan from before the sale can never pay for it. Codes are
untrusted input: anything not printable ASCII or too long is refused before it reaches a waiter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Any

from agent.domain.commands import CUSTOMER_CODE_MAX, CUSTOMER_CODE_PATTERN
from agent.domain.errors import AgentError
from agent.domain.ports import ScannerPort
from drivers.lograte import LogLimiter
from sync.telemetry import traced

log = logging.getLogger(__name__)
_VALID = re.compile(CUSTOMER_CODE_PATTERN)


def valid_customer_code(code: str) -> bool:
    """Printable ASCII without spaces, 1..CUSTOMER_CODE_MAX characters (what the cloud accepts)."""
    return 0 < len(code) <= CUSTOMER_CODE_MAX and _VALID.fullmatch(code) is not None


class ScannerBusy(AgentError):
    """Another QR CPM sale is already waiting for the scanner."""

    status = 409


class ScanWaiter:
    """Hands the next valid scan to the one sale waiting for it."""

    def __init__(self, scanner: ScannerPort) -> None:
        self._scanner = scanner
        self._waiter: asyncio.Future[str] | None = None
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0  # scans with nobody waiting
        self.rejected = 0  # scans that were not a valid customer code
        # A noisy scanner repeats these at will: at most one line a minute each (docs/devices.md#logs).
        self.log = LogLimiter(log)

    def start(self) -> None:
        """Start reading the scanner in the background."""
        self._task = asyncio.create_task(self._run(), name="agent-scan-waiter")

    async def stop(self) -> None:
        """Stop reading; a sale still waiting gets CancelledError."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._waiter is not None and not self._waiter.done():
            self._waiter.cancel()

    @property
    def waiting(self) -> bool:
        """Is a sale waiting for a scan now?"""
        return self._waiter is not None and not self._waiter.done()

    async def status(self) -> dict[str, Any]:
        """The "qr_cpm" block of /api/status: is a sale waiting, scans dropped (nobody waiting) or refused."""
        return {"waiting_for_scan": self.waiting, "dropped_scans": self.dropped,
                "rejected_scans": self.rejected}

    @traced("device.scan.wait")
    async def next_code(self, timeout_s: float) -> str | None:
        """The next valid code scanned from now on, or None after `timeout_s`. Cancellable."""
        if self.waiting:
            raise ScannerBusy("scanner_busy", "Another QR payment is waiting for the scanner. Finish or stop "
                              "it first.")
        waiter: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        try:
            return await asyncio.wait_for(asyncio.shield(waiter), timeout_s)
        except TimeoutError:
            return None
        finally:
            if not waiter.done():
                waiter.cancel()
            if self._waiter is waiter:
                self._waiter = None

    async def _run(self) -> None:
        while True:
            try:
                async for code in self._scanner.codes():
                    self._offer(code)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # a scanner fault must not end the reader; the device layer recovers
                self.log.log(logging.WARNING, "read_failed", "scanner read failed: %s", type(err).__name__)
                await asyncio.sleep(1.0)

    def _offer(self, code: str) -> None:
        code = code.strip()
        if not valid_customer_code(code):
            self.rejected += 1
            self.log.log(logging.INFO, "rejected",
                         "ignored a scan that is not a valid customer code (%d chars)", len(code))
            return
        if self._waiter is None or self._waiter.done():
            self.dropped += 1
            return
        self._waiter.set_result(code)
