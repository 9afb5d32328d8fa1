"""ESC/POS back to paper: an incremental parser (any chunking) of the commands receipt printers get."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from drivers.escpos.encode import BARCODE_B

_SYMBOLOGY = {v: k for k, v in BARCODE_B.items()}
_SYMBOLOGY |= {v - 65: k for k, v in BARCODE_B.items() if v < 72}  # function A numbers 0-6
# Fixed-length commands: prefix byte + command byte -> total length including parameters.
_FIXED = {
    (0x1B, 0x40): 2, (0x1B, 0x32): 2, (0x1B, 0x45): 3, (0x1B, 0x2D): 3, (0x1B, 0x61): 3, (0x1B, 0x21): 3,
    (0x1B, 0x64): 3, (0x1B, 0x4A): 3, (0x1B, 0x4D): 3, (0x1B, 0x74): 3, (0x1B, 0x52): 3, (0x1B, 0x47): 3,
    (0x1B, 0x33): 3, (0x1B, 0x70): 5, (0x1D, 0x21): 3, (0x1D, 0x42): 3, (0x1D, 0x68): 3, (0x1D, 0x77): 3,
    (0x1D, 0x66): 3, (0x1D, 0x48): 3, (0x1D, 0x62): 3, (0x1D, 0x7C): 3, (0x1C, 0x26): 2, (0x1C, 0x2E): 2,
    (0x1C, 0x43): 3, (0x1C, 0x2D): 3, (0x1C, 0x21): 3, (0x10, 0x04): 3,
}


@dataclass(frozen=True, slots=True)
class TextLine:
    """One printed line with the style in force when it was printed."""

    text: str
    bold: bool = False
    width: int = 1
    height: int = 1
    align: str = "left"
    underline: int = 0


@dataclass(frozen=True, slots=True)
class Qr:
    """A native QR code the printer printed."""

    data: str
    module: int
    align: str = "left"


@dataclass(frozen=True, slots=True)
class Raster:
    """A GS v 0 raster image: width in bytes, height in dots, packed bits (1 = black)."""

    width_bytes: int
    height: int
    bits: bytes


@dataclass(frozen=True, slots=True)
class Barcode:
    """A 1-D barcode."""

    symbology: str
    data: str


@dataclass(frozen=True, slots=True)
class Cut:
    """The paper was cut here."""

    partial: bool


Element = TextLine | Qr | Raster | Barcode | Cut


@dataclass
class _Style:
    bold: bool = False
    width: int = 1
    height: int = 1
    align: str = "left"
    underline: int = 0
    kanji: bool = False
    table: int = 1  # ESC t: a Japanese-model printer starts on the Katakana table; 0 is PC437


@dataclass
class Paper:
    """Everything printed so far, plus counters."""

    elements: list[Element] = field(default_factory=list)
    drawer_kicks: int = 0
    unknown_commands: int = 0

    def receipts(self) -> list[str]:
        """Text of each cut-off receipt (QR codes as '[QR data]'), in order."""
        out: list[str] = []
        cur: list[str] = []
        for el in self.elements:
            if isinstance(el, Cut):
                out.append("\n".join(cur))
                cur = []
            elif isinstance(el, TextLine):
                cur.append(el.text)
            elif isinstance(el, Qr):
                cur.append(f"[QR {el.data}]")
        return out

    def text(self) -> str:
        """All printed text lines joined by newlines."""
        return "\n".join(el.text for el in self.elements if isinstance(el, TextLine))


class EscPosParser:
    """Feed bytes in any chunks; printed things land in `paper`; DLE EOT n calls `on_status(n)`."""

    def __init__(self, on_status: Callable[[int], None] | None = None) -> None:
        self.paper = Paper()
        self._on_status = on_status
        self._buf = bytearray()
        self._line: list[str] = []
        self._style = _Style()
        self._qr_data = b""
        self._qr_module = 3

    def drop_partial(self) -> None:
        """Forget a half-received command (the printer's receive timeout after a link was cut mid-job)."""
        self._buf.clear()

    def feed(self, data: bytes) -> None:
        """Consume bytes; an incomplete command waits for the next chunk."""
        self._buf += data
        pos, buf = 0, self._buf
        while pos < len(buf):
            used = self._step(buf, pos)
            if used == 0:
                break
            pos += used
        del buf[:pos]

    def _step(self, buf: bytearray, pos: int) -> int:
        b = buf[pos]
        if b in (0x1B, 0x1D, 0x1C, 0x10):
            return self._command(buf, pos)
        if b == 0x0A:
            self._flush_line()
            return 1
        if b < 0x20 or b == 0x7F:
            return 1
        if self._style.kanji and (0x81 <= b <= 0x9F or 0xE0 <= b <= 0xFC):
            if pos + 1 >= len(buf):
                return 0
            self._line.append(bytes(buf[pos : pos + 2]).decode("cp932", errors="replace"))
            return 2
        self._line.append(_single(b, self._style.table))
        return 1

    def _command(self, buf: bytearray, pos: int) -> int:
        if pos + 1 >= len(buf):
            return 0
        key = (buf[pos], buf[pos + 1])
        size = _FIXED.get(key)
        if size is not None:
            if pos + size > len(buf):
                return 0
            self._apply(key, bytes(buf[pos + 2 : pos + size]))
            return size
        variable = {
            (0x1D, 0x56): self._cut, (0x1D, 0x28): self._gs_paren,
            (0x1D, 0x76): self._raster, (0x1D, 0x6B): self._barcode,
        }.get(key)
        if variable is not None:
            return variable(buf, pos)
        self.paper.unknown_commands += 1
        return 2

    def _apply(self, key: tuple[int, int], p: bytes) -> None:
        s, n = self._style, p[0] if p else 0
        if key == (0x1B, 0x40):
            self._style = _Style()
        elif key == (0x1B, 0x45):
            s.bold = bool(n & 1)
        elif key in ((0x1B, 0x2D), (0x1C, 0x2D)):
            s.underline = n % 48 if n >= 48 else n
        elif key == (0x1B, 0x61):
            s.align = ("left", "center", "right")[n % 48 % 3]
        elif key == (0x1D, 0x21):
            s.width, s.height = (n >> 4) + 1, (n & 0x0F) + 1
        elif key == (0x1B, 0x21):
            s.width, s.height = (2 if n & 0x20 else 1), (2 if n & 0x10 else 1)
            s.bold = bool(n & 0x08)
        elif key == (0x1B, 0x64):
            self._feed_lines(n)
        elif key == (0x1B, 0x74):
            s.table = n
        elif key == (0x1C, 0x26):
            s.kanji = True
        elif key == (0x1C, 0x2E):
            s.kanji = False
        elif key == (0x1B, 0x70):
            self.paper.drawer_kicks += 1
        elif key == (0x10, 0x04) and self._on_status is not None:
            self._on_status(n)

    def _feed_lines(self, n: int) -> None:
        if self._line:
            self._flush_line()
            n -= 1
        for _ in range(max(n, 0)):
            self._flush_line()

    def _cut(self, buf: bytearray, pos: int) -> int:
        if pos + 2 >= len(buf):
            return 0
        m = buf[pos + 2]
        size = 4 if m in (65, 66) else 3
        if pos + size > len(buf):
            return 0
        if self._line:
            self._flush_line()
        self.paper.elements.append(Cut(partial=m in (1, 49, 66)))
        return size

    def _gs_paren(self, buf: bytearray, pos: int) -> int:
        if pos + 5 > len(buf):
            return 0
        fn_class, length = buf[pos + 2], int.from_bytes(buf[pos + 3 : pos + 5], "little")
        if pos + 5 + length > len(buf):
            return 0
        body = bytes(buf[pos + 5 : pos + 5 + length])
        if fn_class == 0x6B and len(body) >= 2 and body[0] == 0x31:
            self._qr(body[1], body[2:])
        return 5 + length

    def _qr(self, fn: int, data: bytes) -> None:
        if fn == 67 and data:
            self._qr_module = data[0]
        elif fn == 80:
            self._qr_data = data[1:]
        elif fn == 81:
            text = self._qr_data.decode("utf-8", errors="replace")
            self.paper.elements.append(Qr(text, self._qr_module, self._style.align))

    def _raster(self, buf: bytearray, pos: int) -> int:
        if pos + 8 > len(buf):
            return 0
        xb = int.from_bytes(buf[pos + 4 : pos + 6], "little")
        h = int.from_bytes(buf[pos + 6 : pos + 8], "little")
        end = pos + 8 + xb * h
        if end > len(buf):
            return 0
        self.paper.elements.append(Raster(xb, h, bytes(buf[pos + 8 : end])))
        return end - pos

    def _barcode(self, buf: bytearray, pos: int) -> int:
        if pos + 3 >= len(buf):
            return 0
        m = buf[pos + 2]
        if m <= 6:
            end = buf.find(b"\x00", pos + 3)
            if end < 0:
                return 0
            data, size = bytes(buf[pos + 3 : end]), end + 1 - pos
        else:
            n = buf[pos + 3]
            if pos + 4 + n > len(buf):
                return 0
            data, size = bytes(buf[pos + 4 : pos + 4 + n]), 4 + n
        sym = _SYMBOLOGY.get(m, f"type{m}")
        self.paper.elements.append(Barcode(sym, data.decode("ascii", errors="replace")))
        return size

    def _flush_line(self) -> None:
        s = self._style
        text = "".join(self._line)
        self.paper.elements.append(TextLine(text, s.bold, s.width, s.height, s.align, s.underline))
        self._line.clear()


def _single(b: int, table: int) -> str:
    """A single-byte character: ASCII with the Japan set's ¥ and ‾; 0x80+ from the Katakana table or PC437."""
    if b < 0x80:
        return {0x5C: "¥", 0x7E: "‾"}.get(b, chr(b))
    if table == 0:
        return bytes((b,)).decode("cp437")
    return bytes((b,)).decode("cp932") if 0xA1 <= b <= 0xDF else "?"
