"""Splitting a scanner byte stream into codes: CR, LF or CRLF ends a code; garbage is counted, dropped."""

from __future__ import annotations

import re

# Printable ASCII; the length limit is the splitter's max_len (a fixed {1,512} here refused longer codes
# that a larger max_len allows).
_PRINTABLE = re.compile(rb"[\x20-\x7e]+")


class LineSplitter:
    """Incremental: feed bytes, get the complete, printable-ASCII codes they finish (max_len characters)."""

    def __init__(self, max_len: int = 512) -> None:
        self.max_len = max_len
        self.rejected = 0
        self._buf = bytearray()
        self._overflow = False

    @property
    def pending(self) -> bool:
        """True while a code is half received."""
        return bool(self._buf) or self._overflow

    def drop_partial(self) -> None:
        """Forget a half-received code (the line went quiet mid-code)."""
        if self.pending:
            self.rejected += 1
        self._buf.clear()
        self._overflow = False

    def feed(self, data: bytes) -> list[str]:
        """Consume bytes; return finished codes in order."""
        codes: list[str] = []
        for part in re.split(rb"([\r\n])", data):
            if part in (b"\r", b"\n"):
                self._end_line(codes)
            elif part:
                self._buf += part
                if len(self._buf) > self.max_len:
                    self._overflow = True
                    self._buf.clear()
        return codes

    def _end_line(self, codes: list[str]) -> None:
        line, overflow = bytes(self._buf), self._overflow
        self._buf.clear()
        self._overflow = False
        if overflow:
            self.rejected += 1
        elif line:
            if _PRINTABLE.fullmatch(line):
                codes.append(line.decode("ascii"))
            else:
                self.rejected += 1
