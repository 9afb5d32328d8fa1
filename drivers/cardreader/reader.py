"""Host side of the card reader protocol (docs/card-reader-protocol.md): one sale at a time, retries."""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from drivers.cardreader.frame import ACK, NAK, BadFrame, Control, Event, Frame, FrameDecoder, encode_frame
from drivers.cardreader.messages import (
    AnyMessage,
    Cancel,
    Cancelled,
    InvalidMessage,
    Ping,
    Result,
    Sale,
    dump,
    load,
)
from drivers.cardreader.result import CardResult
from drivers.errors import DeviceTimeout, DriverError, ProtocolError
from drivers.lograte import LogLimiter
from drivers.transport import Transport

_POLL = 0.1
_log = logging.getLogger("drivers.cardreader")


class CardReader:
    """Drives one reader over a transport; implements agent.domain.ports.CardReaderPort."""

    def __init__(
        self, transport: Transport, *, ack_timeout: float = 0.5, retries: int = 3,
        result_timeout: float = 60.0, cancel_grace: float = 3.0, max_bad_frames: int = 20,
    ) -> None:
        self.transport = transport
        self.ack_timeout, self.retries = ack_timeout, retries
        self.result_timeout, self.cancel_grace = result_timeout, cancel_grace
        self.max_bad_frames = max_bad_frames
        self.bad_frames = 0
        self._decoder = FrameDecoder()
        self._events: deque[Event] = deque()
        self._inbox: deque[AnyMessage] = deque()
        self._lock = asyncio.Lock()
        self._cancel = asyncio.Event()
        # The reader can send bad frames at will: one line a minute at most (docs/devices.md#logs).
        self.log = LogLimiter(_log)

    async def authorize(self, amount: int, currency: str, reference: str) -> CardResult:
        """One sale: declined on decline/cancel/confirmed timeout; DriverError if the outcome is unknown."""
        async with self._lock:
            self._cancel.clear()
            self.bad_frames = 0
            self._decoder.reset()
            self._events.clear()
            self._inbox.clear()
            await self._send(Sale(id=reference, amount=amount, currency=currency))
            try:
                return await self._finish(reference)
            except DriverError as err:
                err.outcome_unknown = True  # the reader had accepted the sale
                raise

    async def ping(self) -> None:
        """One ping exchange: returns once the reader ACKs it; ProtocolError if it NAKs every repeat,
        DeviceTimeout if it stays silent. Health comes from this, not from the port being open."""
        async with self._lock:
            self._decoder.reset()
            self._events.clear()
            await self._send(Ping())

    async def _finish(self, reference: str) -> CardResult:
        result = await self._await_result(reference, self.result_timeout)
        if result is not None:
            return result
        why = "cancelled" if self._cancel.is_set() else "timeout"
        await self._send(Cancel(id=reference))
        result = await self._await_result(reference, self.cancel_grace, honour_cancel=False)
        if result is not None:
            return result if result.status == "approved" else _declined(why)
        if self.bad_frames > self.max_bad_frames:
            raise ProtocolError("card reader sends garbled data; outcome unknown, check the reader")
        raise DeviceTimeout("card reader stopped answering; outcome unknown, check the reader")

    async def cancel(self) -> None:
        """Ask the running sale (if any) to stop; authorize() then returns declined 'cancelled'."""
        self._cancel.set()

    async def _send(self, msg: Sale | Cancel | Ping) -> None:
        frame = encode_frame(dump(msg))
        naks = 0
        for _ in range(self.retries + 1):
            await self.transport.write(frame)
            answer = await self._wait_control(self.ack_timeout)
            if answer:
                return
            naks += answer is False
        if naks == self.retries + 1:
            raise ProtocolError("card reader refused the request (NAK after every retry)")
        raise DeviceTimeout("card reader did not acknowledge the request")

    async def _wait_control(self, within: float) -> bool | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            while self._events:
                event = self._events.popleft()
                if isinstance(event, Control):
                    return event.ack
                await self._answer(event)
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            await self._pump(min(_POLL, remaining))

    async def _await_result(
        self, reference: str, within: float, honour_cancel: bool = True
    ) -> CardResult | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            while self._inbox:
                msg = self._inbox.popleft()
                if isinstance(msg, Result) and msg.id == reference:
                    return _to_result(msg)
                if isinstance(msg, Cancelled) and msg.id == reference:
                    return _declined("cancelled")
            remaining = deadline - loop.time()
            stop = honour_cancel and (self._cancel.is_set() or self.bad_frames > self.max_bad_frames)
            if remaining <= 0 or stop:
                return None
            await self._pump(min(_POLL, remaining))
            while self._events:
                event = self._events.popleft()
                if not isinstance(event, Control):
                    await self._answer(event)

    async def _pump(self, within: float) -> None:
        data = await self.transport.read(512, within)
        if not data:
            # Inter-byte timeout: a half frame that went quiet is dropped; the sender repeats it.
            self._decoder.reset()
            return
        before = self._decoder.garbage
        self._events.extend(self._decoder.feed(data))
        self.bad_frames += (self._decoder.garbage - before + 63) // 64

    async def _answer(self, event: Frame | BadFrame) -> None:
        if isinstance(event, BadFrame):
            await self._refuse(event.reason)
            return
        try:
            msg = load(event.payload)
        except InvalidMessage as err:
            await self._refuse(str(err))  # names the error kind only, never the payload
            return
        await self.transport.write(bytes((ACK,)))
        self._inbox.append(msg)

    async def _refuse(self, reason: str) -> None:
        self.bad_frames += 1
        # `reason` is a fixed text of the decoder: the frame's bytes (maybe a card number) are never logged.
        self.log.log(logging.WARNING, "bad_frame", "card reader sent a bad frame (%s); answered NAK", reason)
        await self.transport.write(bytes((NAK,)))


def _declined(reason: str) -> CardResult:
    return CardResult("declined", None, None, None, None, decline_reason=reason)


def _to_result(msg: Result) -> CardResult:
    if msg.status == "approved":
        return CardResult("approved", msg.approval_code, msg.brand, msg.last4, msg.entry)
    reason = msg.reason or "declined"
    return CardResult("declined", None, msg.brand, msg.last4, msg.entry, decline_reason=reason)
