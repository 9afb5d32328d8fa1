"""Framing of the card reader protocol (docs/card-reader-protocol.md): STX LEN PAYLOAD ETX LRC; pure."""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from operator import xor

STX, ETX, ACK, NAK = 0x02, 0x03, 0x06, 0x15
MAX_PAYLOAD = 1024


def lrc(data: bytes) -> int:
    """XOR of all bytes."""
    return reduce(xor, data, 0)


def encode_frame(payload: bytes) -> bytes:
    """One frame around `payload` (1..1024 bytes)."""
    if not 1 <= len(payload) <= MAX_PAYLOAD:
        raise ValueError(f"payload must be 1-{MAX_PAYLOAD} bytes")
    body = len(payload).to_bytes(2, "big") + payload + bytes((ETX,))
    return bytes((STX,)) + body + bytes((lrc(body),))


@dataclass(frozen=True, slots=True)
class Frame:
    """A good frame's payload."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class BadFrame:
    """A frame that failed its length, ETX or LRC check (answer NAK)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Control:
    """A lone ACK or NAK byte."""

    ack: bool


Event = Frame | BadFrame | Control


class FrameDecoder:
    """Incremental decoder: feed bytes in any chunks, get events; skips garbage, resyncs after bad frames."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.garbage = 0

    @property
    def pending(self) -> bool:
        """True while part of a frame is buffered."""
        return bool(self._buf)

    def reset(self) -> None:
        """Drop a half frame (inter-byte timeout)."""
        self._buf.clear()

    def feed(self, data: bytes) -> list[Event]:
        """Consume bytes, return the complete events they finish."""
        self._buf += data
        events: list[Event] = []
        while self._buf:
            event, used = self._next()
            if used == 0:
                break
            del self._buf[:used]
            if event is not None:
                events.append(event)
        return events

    def _next(self) -> tuple[Event | None, int]:  # noqa: PLR0911 - one return per framing outcome
        buf = self._buf
        first = buf[0]
        if first in (ACK, NAK):
            return Control(ack=first == ACK), 1
        if first != STX:
            self.garbage += 1
            return None, 1
        if len(buf) < 3:
            return None, 0
        size = int.from_bytes(buf[1:3], "big")
        if not 1 <= size <= MAX_PAYLOAD:
            return BadFrame("length out of range"), 1
        end = 3 + size + 2
        if len(buf) < end:
            return None, 0
        if buf[end - 2] != ETX:
            return BadFrame("missing ETX"), 1
        if lrc(bytes(buf[1 : end - 1])) != buf[end - 1]:
            return BadFrame("LRC mismatch"), 1
        return Frame(bytes(buf[3 : end - 2])), end
