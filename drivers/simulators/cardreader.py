"""Card reader simulator on a pty: reader side of docs/card-reader-protocol.md; approves/declines by rules."""

from __future__ import annotations

import asyncio
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from drivers.cardreader.frame import ACK, NAK, BadFrame, Control, Frame, FrameDecoder, encode_frame
from drivers.cardreader.messages import (
    Cancel,
    Cancelled,
    InvalidMessage,
    Ping,
    Presented,
    Result,
    Sale,
    dump,
    load,
)
from drivers.cardreader.result import EntryMethod
from drivers.simulators.base import PtySimulator

Mode = Literal["normal", "timeout", "nak", "silent", "garbage", "half"]


@dataclass
class CardRules:
    """How the simulated reader behaves.

    mode: normal (answer), timeout (card never presented, no result), nak (NAK every frame), silent
    (answer nothing), garbage (random bytes and half frames instead of a result), half (ACK the sale, send
    half a result frame, then ignore the cancel: the host ends in DeviceTimeout). Declines: amounts over
    `decline_over`, amounts in `decline_amounts`. `outcomes` (approve/decline, per sale) win over rules.
    """

    mode: Mode = "normal"
    decline_over: int | None = None
    decline_amounts: set[int] = field(default_factory=set)
    brand: str = "VISA"
    last4: str = "4242"
    entry: EntryMethod = "contactless"
    present_delay: float = 0.05
    outcomes: deque[str] = field(default_factory=deque)
    lose_acks: int = 0  # swallow this many ACKs the reader should send (the host then repeats its frame)
    seed: int = 0


class CardReaderSimulator(PtySimulator):
    """The reader. Tests script it through `rules` (or `approve_next()` / `decline_next()`)."""

    def __init__(self, rules: CardRules | None = None) -> None:
        super().__init__()
        self.rules = rules or CardRules()
        self.sales: list[Sale] = []
        self.cancels = 0
        self.naks_received = 0
        self.naks_sent = 0  # NAKs this reader answered (bad frames, or every frame in mode "nak")
        self.pings = 0  # pings it ACKed
        self._decoder = FrameDecoder()
        self._pending: dict[str, asyncio.Task[None]] = {}
        self._done: dict[str, Result] = {}
        self._approval = 0
        self._rng = random.Random(self.rules.seed)  # noqa: S311 - replayable test garbage, not crypto

    def approve_next(self) -> None:
        """The next sale is approved whatever the rules say."""
        self.rules.outcomes.append("approve")

    def decline_next(self, reason: str = "insufficient_funds") -> None:
        """The next sale is declined with `reason`."""
        self.rules.outcomes.append("decline:" + reason)

    def on_bytes(self, data: bytes) -> None:
        """Frames from the host: ACK/NAK them per mode, start or cancel sales."""
        if self.rules.mode == "silent":
            return
        for event in self._decoder.feed(data):
            if isinstance(event, Control):
                self.naks_received += not event.ack
            elif self.rules.mode == "nak" or isinstance(event, BadFrame):
                self._nak()
            else:
                self._on_frame(event)

    def _on_frame(self, frame: Frame) -> None:
        try:
            msg = load(frame.payload)
        except InvalidMessage:
            self._nak()
            return
        if self.rules.lose_acks > 0:
            self.rules.lose_acks -= 1
        else:
            self.send(bytes((ACK,)))
        if isinstance(msg, Sale) and msg.id in self._done:
            self._send_msg(self._done[msg.id])  # a repeated request: same answer, never a second charge
        elif isinstance(msg, Sale) and msg.id not in self._pending:
            self.sales.append(msg)
            self._pending[msg.id] = asyncio.get_running_loop().create_task(self._run_sale(msg))
        elif isinstance(msg, Ping):
            self.pings += 1  # the ACK above is the whole answer
        elif isinstance(msg, Cancel) and self.rules.mode == "half":
            self.cancels += 1  # a reader hung mid-answer: it never confirms the cancel
        elif isinstance(msg, Cancel):
            self.cancels += 1
            task = self._pending.pop(msg.id, None)
            if task is not None:
                task.cancel()
            self._send_msg(Cancelled(id=msg.id))

    async def _run_sale(self, sale: Sale) -> None:
        rules = self.rules
        if rules.mode == "timeout":
            return  # the card is never presented; only a cancel ends this sale
        await asyncio.sleep(rules.present_delay)
        if rules.mode == "garbage":
            junk = bytes(self._rng.randrange(256) for _ in range(64))
            self.send(junk + encode_frame(b'{"t":"result"')[:9])
            return
        if rules.mode == "half":
            self.send(encode_frame(dump(self._decide(sale)))[:9])
            return
        self._send_msg(Presented(id=sale.id, entry=rules.entry))
        await asyncio.sleep(rules.present_delay)
        self._pending.pop(sale.id, None)
        result = self._done[sale.id] = self._decide(sale)
        self._send_msg(result)

    def _decide(self, sale: Sale) -> Result:
        rules = self.rules
        outcome = rules.outcomes.popleft() if rules.outcomes else ""
        declined = outcome.startswith("decline:") or (
            not outcome and (
                sale.amount in rules.decline_amounts
                or (rules.decline_over is not None and sale.amount > rules.decline_over)
            )
        )
        card = Result(id=sale.id, status="declined", brand=rules.brand, last4=rules.last4, entry=rules.entry)
        if declined:
            return card.model_copy(update={"reason": outcome.removeprefix("decline:") or "limit_exceeded"})
        self._approval += 1
        return card.model_copy(update={"status": "approved", "approval_code": f"{self._approval:06d}"})

    def _nak(self) -> None:
        self.naks_sent += 1
        self.send(bytes((NAK,)))

    def _send_msg(self, msg: Presented | Result | Cancelled) -> None:
        self.send(encode_frame(dump(msg)))

    async def stop(self) -> None:
        """Stop pending sales and unplug."""
        for task in self._pending.values():
            task.cancel()
        self._pending.clear()
        self.unplug()
