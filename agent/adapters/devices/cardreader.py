"""Card reader service: CardReaderPort over a supervised serial reader (hot-plug, health, faults).

Health comes from the last real exchange with the reader — a sale or a ping ACKed — never from the port
merely opening (docs/devices.md#hot-plug-and-health).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from agent.adapters.devices.config import CardReaderConfig
from agent.adapters.devices.link import DeviceLink
from agent.domain.ports import CardResult
from drivers.cardreader.reader import CardReader
from drivers.errors import DeviceTimeout, DriverError, ProtocolError
from drivers.transport import Transport
from drivers.transport.serial import SerialTransport
from sync.telemetry import traced

UNPLUGGED = "Card reader is not connected: check its cable."
SILENT = "Card reader is not answering: check that it is switched on."
_T = TypeVar("_T")


class CardReaderService:
    """authorize() drives one sale; device faults raise DriverError (its cashier_message says what to do)."""

    def __init__(self, cfg: CardReaderConfig, name: str = "card_reader", reopen_max_s: float = 5.0) -> None:
        self.cfg = cfg
        self.link = DeviceLink(name, "card_reader", lambda: SerialTransport(cfg.path, cfg.baudrate),
                               path=cfg.path, debounce_s=2.0, reopen_max_s=reopen_max_s)
        self._reader: CardReader | None = None
        self._busy = asyncio.Lock()
        self._last_exchange = float("-inf")  # monotonic time of the last exchange the reader answered

    def _driver(self, transport: Transport) -> CardReader:
        if self._reader is None or self._reader.transport is not transport:
            c = self.cfg
            self._reader = CardReader(transport, ack_timeout=c.ack_timeout_s, retries=c.retries,
                                      result_timeout=c.result_timeout_s, cancel_grace=c.cancel_grace_s)
        return self._reader

    @traced("device.card.read")
    async def authorize(self, amount: int, currency: str, reference: str) -> CardResult:
        """One card sale on the reader."""
        async with self._busy:
            return await self._exchange(lambda reader: reader.authorize(amount, currency, reference))

    async def _exchange(self, work: Callable[[CardReader], Awaitable[_T]]) -> _T:
        """Open if needed, run one exchange, and set the health from how it went (call under _busy)."""
        try:
            transport = await self.link.ensure_open()
            result = await work(self._driver(transport))
        except ProtocolError as err:
            # The link works but the reader refuses or garbles: faulty until an exchange goes through again.
            self.link.problem(f"Card reader fault: {err}", faulty=True)
            raise
        except DriverError as err:
            opened = self.link.transport is not None
            await self.link.fail(err, UNPLUGGED if not opened else SILENT if isinstance(err, DeviceTimeout)
                                 else None)
            raise
        self._last_exchange = time.monotonic()
        self.link.ok()
        return result

    async def cancel(self) -> None:
        """Stop the sale in progress (it ends declined 'cancelled')."""
        if self._reader is not None:
            await self._reader.cancel()

    async def start(self) -> None:
        """Watch the device: reopen it when it comes back, mark it offline when it vanishes."""
        self.link.start_task(self._watch())

    async def stop(self) -> None:
        """Stop watching and close the port."""
        await self.link.stop_task()

    async def check(self) -> None:
        """One watch pass: ping the reader if its health is in doubt or the last exchange is ping_s old,
        else only check that its device node is still there. Raises the DriverError it met."""
        async with self._busy:
            if self.link.healthy and time.monotonic() - self._last_exchange < self.cfg.ping_s:
                try:
                    await self.link.ensure_open()  # a stat: notices a vanished node between pings
                except DriverError as err:
                    await self.link.fail(err, UNPLUGGED)
                    raise
                return
            await self._exchange(lambda reader: reader.ping())

    async def _watch(self) -> None:
        while not self.link.stopping.is_set():
            if not self._busy.locked():  # a sale in progress is an exchange already
                try:
                    await self.check()
                except DriverError:
                    await self.link.wait_retry(self.link.stopping)  # health was set by _exchange
                    continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.link.stopping.wait(), min(1.0, self.cfg.ping_s))
