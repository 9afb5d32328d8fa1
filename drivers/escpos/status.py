"""Decoding DLE EOT real-time status bytes (ESC/POS): paper sensor and offline cause."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from drivers.errors import ProtocolError

PaperState = Literal["ok", "near_end", "out", "unknown"]


@dataclass(frozen=True, slots=True)
class PrinterStatus:
    """What the printer said about itself; `paper` is 'unknown' on one-way links."""

    paper: PaperState
    cover_open: bool
    online: bool


UNKNOWN = PrinterStatus(paper="unknown", cover_open=False, online=True)


def valid_status_byte(b: int) -> bool:
    """Every DLE EOT answer has bits 1 and 4 set and bits 0 and 7 clear (the fixed bits of the format)."""
    return b & 0b1001_0011 == 0b0001_0010


def paper_from(b: int) -> PaperState:
    """DLE EOT 4: bits 5+6 set = roll end (out); bits 2+3 set = near end."""
    if b & 0x60:
        return "out"
    if b & 0x0C:
        return "near_end"
    return "ok"


def decode(printer: int, offline: int, paper: int) -> PrinterStatus:
    """Combine answers to DLE EOT 1 (bit 3 = offline), 2 (bit 2 = cover open) and 4 (paper roll sensor)."""
    return PrinterStatus(
        paper=paper_from(paper), cover_open=bool(offline & 0x04), online=not printer & 0x08
    )


def parse_answer(answer: bytes) -> PrinterStatus:
    """The three answer bytes to DLE EOT 1, 2 and 4, in order; ProtocolError for anything else."""
    if len(answer) != 3 or not all(valid_status_byte(b) for b in answer):
        raise ProtocolError("status answer is not three DLE EOT status bytes")
    return decode(answer[0], answer[1], answer[2])
