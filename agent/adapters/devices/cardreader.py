"""Card reader service: CardReaderPort over a supervised serial reader (hot-plug, health, faults)."""

from __future__ import annotations

import asyncio
import contextlib

from agent.adapters.devices.config import CardReaderConfig
from agent.adapters.devices.link import DeviceLink
from agent.domain.ports import CardResult
from drivers.cardreader.reader import CardReader
from drivers.errors import DriverError, ProtocolError
from drivers.transport import Transport
from drivers.transport.serial import SerialTransport

UNPLUGGED = "Card reader is not connected: check its cable."


class CardReaderService:
    """authorize() drives one sale; device faults raise DriverError (its cashier_message says what to do)."""

    def __init__(self, cfg: CardReaderConfig, name: str = "card_reader", reopen_max_s: float = 5.0) -> None:
        self.cfg = cfg
        self.link = DeviceLink(name, "card_reader", lambda: SerialTransport(cfg.path, cfg.baudrate),
                               path=cfg.path, debounce_s=2.0, reopen_max_s=reopen_max_s)
        self._reader: CardReader | None = None
        self._busy = asyncio.Lock()

    def _driver(self, transport: Transport) -> CardReader:
        if self._reader is None or self._reader.transport is not transport:
            c = self.cfg
            self._reader = CardReader(transport, ack_timeout=c.ack_timeout_s, retries=c.retries,
                                      result_timeout=c.result_timeout_s, cancel_grace=c.cancel_grace_s)
        return self._reader

    async def authorize(self, amount: int, currency: str, reference: str) -> CardResult:
        """One card sale on the reader."""
        async with self._busy:
            try:
                transport = await self.link.ensure_open()
                result = await self._driver(transport).authorize(amount, currency, reference)
            except ProtocolError as err:
                # The link works but the reader talks nonsense: faulty until a sale goes through again.
                self.link.problem(f"Card reader fault: {err}", faulty=True)
                raise
            except DriverError as err:
                await self.link.fail(err, UNPLUGGED if not self.link.transport else None)
                raise
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

    async def _watch(self) -> None:
        while not self.link.stopping.is_set():
            if not self._busy.locked():
                try:
                    async with self._busy:
                        await self.link.ensure_open()
                        if self.link.down:
                            self.link.ok()  # (re)opened: reachable again
                except DriverError as err:
                    await self.link.fail(err, UNPLUGGED)
                    await self.link.wait_retry(self.link.stopping)
                    continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.link.stopping.wait(), 1.0)
