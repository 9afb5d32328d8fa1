"""Pure ESC/POS encoder: every function returns the exact bytes of one command; nothing does I/O.

Japanese text follows the Epson model for Japanese printers: single-byte characters (ASCII and
half-width katakana) are sent with Kanji mode off, using the Japan international set (0x5C prints ¥, 0x7E
prints ‾) and the Katakana code table (0xA1-0xDF); runs of double-byte characters are wrapped in FS & … FS .
and sent as Shift_JIS (cp932). Hand-written because python-escpos sends Kanji as GB18030 and full-width
kana as '?'.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # Pillow is loaded only when an image is printed: it costs an idle agent ~5 MB
    from PIL import Image

ESC = b"\x1b"
GS = b"\x1d"
FS = b"\x1c"
DLE = b"\x10"
EOT = b"\x04"
LF = b"\n"

Align = Literal["left", "center", "right"]
QrErrorLevel = Literal["L", "M", "Q", "H"]
HriPosition = Literal["off", "above", "below", "both"]

_ALIGN = {"left": 0, "center": 1, "right": 2}
_QR_EC = {"L": 48, "M": 49, "Q": 50, "H": 51}
_HRI = {"off": 0, "above": 1, "below": 2, "both": 3}
# GS k function B symbology numbers (ESC/POS Application Programming Guide).
BARCODE_B = {
    "UPC-A": 65, "UPC-E": 66, "EAN13": 67, "EAN8": 68, "CODE39": 69,
    "ITF": 70, "NW7": 71, "CODE93": 72, "CODE128": 73,
}
QR_MAX_BYTES = 7089

KANJI_ON = FS + b"&"
KANJI_OFF = FS + b"."
# A character printed double-width in Kanji mode: anything but ASCII minus the two code points the Japan set
# redefines, the yen sign and overline those code points print instead, NBSP, half-width katakana and LF.
_DOUBLE_CHAR = re.compile(r"[^\x20-\x5b\x5d-\x7d\u00a0\u00a5\u203e\uff61-\uff9f\n]")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")
# After _to_printer every ASCII character and half-width katakana is single-byte; the rest is Kanji mode.
# split() on the single-byte runs leaves the double-byte runs at the even indexes (empty at an end when the
# text starts or ends single-byte); matching the long single-byte runs greedily beats scanning past them.
_SINGLE_SPLIT = re.compile("([\n\x20-\x7e\uff61-\uff9f]+)")
_STRAY_SINGLE = re.compile("[\uf8f0-\uf8f3]")

# Constant commands, built once at import (pure bytes, no I/O).
_INIT = ESC + b"@"
_JAPANESE_SETUP = ESC + b"R\x08" + ESC + b"t\x01" + FS + b"C\x01"
_BOLD = (ESC + b"E\x00", ESC + b"E\x01")
_INVERT = (GS + b"B\x00", GS + b"B\x01")
_ALIGN_CMD = {where: ESC + b"a" + bytes((n,)) for where, n in _ALIGN.items()}
_SIZE_CMD = {(w, h): GS + b"!" + bytes((((w - 1) << 4) | (h - 1),)) for w in range(1, 9) for h in range(1, 9)}
_FEED_CMD = tuple(ESC + b"d" + bytes((n,)) for n in range(256))
_CUT = (GS + b"V\x00", GS + b"V\x01")


def init() -> bytes:
    """ESC @: reset the printer to its power-on modes."""
    return _INIT


def japanese_setup() -> bytes:
    """Select the Japan international set (ESC R 8), Katakana table (ESC t 1) and Shift_JIS Kanji (FS C 1)."""
    return _JAPANESE_SETUP


def bold(on: bool) -> bytes:
    """ESC E n: emphasized on/off (applies to ANK and Kanji)."""
    return _BOLD[1 if on else 0]


def underline(dots: int) -> bytes:
    """ESC - n for ANK and FS - n for Kanji: underline 0 (off), 1 or 2 dots thick."""
    if dots not in (0, 1, 2):
        raise ValueError("underline must be 0, 1 or 2 dots")
    n = bytes((dots,))
    return ESC + b"-" + n + FS + b"-" + n


def size(width: int = 1, height: int = 1) -> bytes:
    """GS ! n: character magnification 1-8 each way (applies to ANK and Kanji)."""
    try:
        return _SIZE_CMD[width, height]
    except KeyError:
        raise ValueError("width and height must be 1-8") from None


def align(where: Align) -> bytes:
    """ESC a n: justification of the following lines."""
    return _ALIGN_CMD[where]


def invert(on: bool) -> bytes:
    """GS B n: white-on-black printing on/off."""
    return _INVERT[1 if on else 0]


def feed(lines: int = 1) -> bytes:
    """ESC d n: print the buffer and feed n lines."""
    if not 0 <= lines <= 255:
        raise ValueError("lines must be 0-255")
    return _FEED_CMD[lines]


def cut(partial: bool = False, feed_lines: int = 0) -> bytes:
    """GS V 0/1: full or partial cut, after feeding `feed_lines` lines (ESC d) to clear the blade."""
    cmd = _CUT[1 if partial else 0]
    return feed(feed_lines) + cmd if feed_lines else cmd


def drawer_kick(pin: Literal[2, 5] = 2, on_ms: int = 100, off_ms: int = 100) -> bytes:
    """ESC p m t1 t2: pulse the cash-drawer connector pin; times in 2 ms units."""
    t1, t2 = on_ms // 2, off_ms // 2
    if not (0 <= t1 <= 255 and 0 <= t2 <= 255):
        raise ValueError("pulse times must be 0-510 ms")
    return ESC + b"p" + (b"\x00" if pin == 2 else b"\x01") + bytes((t1, t2))


def status_request(n: int) -> bytes:
    """DLE EOT n: real-time status (1 printer, 2 offline cause, 3 error cause, 4 paper roll sensor)."""
    if n not in (1, 2, 3, 4):
        raise ValueError("DLE EOT n must be 1-4")
    return DLE + EOT + bytes((n,))


def _gs_k2(fn: int, data: bytes, m: bytes = b"") -> bytes:
    body = b"1" + bytes((fn,)) + m + data
    return GS + b"(k" + len(body).to_bytes(2, "little") + body


@lru_cache(maxsize=64)
def _qr_setup(module: int, ec: QrErrorLevel, model: int) -> bytes:
    # Pure function of the three settings (not of the data), so caching it is exact.
    if not 1 <= module <= 16 or model not in (1, 2):
        raise ValueError("QR module must be 1-16 and model 1 or 2")
    level = bytes((_QR_EC[ec],))
    return _gs_k2(65, bytes((48 + model, 0))) + _gs_k2(67, bytes((module,))) + _gs_k2(69, level)


_QR_PRINT = _gs_k2(81, b"", b"0")


def qr(data: str, module: int = 3, ec: QrErrorLevel = "L", model: int = 2) -> bytes:
    """GS ( k: store and print a QR code natively (model, module size, error level, data, print)."""
    payload = data.encode("utf-8")
    if not payload or len(payload) > QR_MAX_BYTES:
        raise ValueError(f"QR data must be 1-{QR_MAX_BYTES} bytes")
    return _qr_setup(module, ec, model) + _gs_k2(80, payload, b"0") + _QR_PRINT


def raster(image: Image.Image) -> bytes:
    """GS v 0: a raster bit image; pixels darker than mid-grey print black, rows padded to whole bytes."""
    from PIL import Image  # noqa: PLC0415 -- see the TYPE_CHECKING import

    grey = image.convert("RGBA")
    flat = Image.new("RGB", grey.size, (255, 255, 255))
    flat.paste(grey, mask=grey.getchannel("A"))
    bits = flat.convert("L").point(lambda p: 255 if p < 128 else 0, mode="1")
    width, height = bits.size
    if not (1 <= width <= 65535 * 8 and 1 <= height <= 65535):
        raise ValueError("image size out of range")
    header = GS + b"v0\x00" + ((width + 7) // 8).to_bytes(2, "little") + height.to_bytes(2, "little")
    return header + bits.tobytes()


def barcode(
    data: str, symbology: str = "CODE128", *, height: int = 64, width: int = 3,
    hri: HriPosition = "below", font_b: bool = False,
) -> bytes:
    """GS h / GS w / GS f / GS H then GS k (function B): a 1-D barcode; CODE128 defaults to code set B."""
    if symbology not in BARCODE_B:
        raise ValueError(f"unsupported barcode symbology {symbology!r}")
    if not (1 <= height <= 255 and 2 <= width <= 6):
        raise ValueError("barcode height must be 1-255 and width 2-6")
    if symbology == "CODE128" and not data.startswith(("{A", "{B", "{C")):
        data = "{B" + data
    payload = data.encode("ascii")
    if not 1 <= len(payload) <= 255:
        raise ValueError("barcode data must be 1-255 bytes")
    return (
        GS + b"h" + bytes((height,)) + GS + b"w" + bytes((width,))
        + GS + b"f" + (b"\x01" if font_b else b"\x00") + GS + b"H" + bytes((_HRI[hri],))
        + GS + b"k" + bytes((BARCODE_B[symbology], len(payload))) + payload
    )


def _to_printer(value: str) -> str:
    """Yen/overline to their Japan-set code points; backslash/tilde full-width; NBSP to space (text() turns
    the private-use characters cp932 maps to stray single bytes into ？). str.replace beats str.translate."""
    if "\\" in value:
        value = value.replace("\\", "\uff3c")
    if "~" in value:
        value = value.replace("~", "\uff5e")
    if "\u00a5" in value:
        value = value.replace("\u00a5", "\\")
    if "\u203e" in value:
        value = value.replace("\u203e", "~")
    if "\u00a0" in value:
        value = value.replace("\u00a0", " ")
    return value


def _shift_jis(value: str) -> bytes:
    try:
        return value.encode("cp932")
    except UnicodeEncodeError:
        return "".join(ch if _encodable(ch) else "？" for ch in value).encode("cp932")


def _encodable(ch: str) -> bool:
    try:
        ch.encode("cp932")
    except UnicodeEncodeError:
        return False
    return True


def text(value: str) -> bytes:
    """Text as bytes: control characters dropped (text never becomes a command), Kanji in FS &/FS .."""
    if value.isascii() and value.isprintable() and "\\" not in value and "~" not in value:
        return value.encode("ascii")
    if not value.isprintable() and not value.replace("\n", "").isprintable():
        value = _CONTROL.sub("", value)
    value = _to_printer(value)
    if value.isascii():
        return value.encode("ascii")
    # runs = [double, single, …, double]; FS . / FS & go in around the singles as str (cp932 encodes them to
    # the same bytes) and the whole text is encoded in one call.
    runs = _SINGLE_SPLIT.split(value)
    if _STRAY_SINGLE.search("".join(runs[::2])):  # private-use characters only ever sit in double runs
        runs = _SINGLE_SPLIT.split(_STRAY_SINGLE.sub("？", value))
    runs[1::2] = [f"\x1c.{single}\x1c&" for single in runs[1::2]]
    out = f"\x1c&{''.join(runs)}\x1c."
    # An empty double run at either end became FS & FS . (text itself never holds FS: controls are gone).
    if not runs[0]:
        out = out[4:]
    if not runs[-1]:
        out = out[:-4]
    return _shift_jis(out)


def display_width(value: str) -> int:
    """Columns the text takes on paper: 1 per single-byte character, 2 per Kanji-mode character."""
    if value.isascii() and value.isprintable():
        if "\\" in value or "~" in value:
            return len(value) + value.count("\\") + value.count("~")  # those two print full-width
        return len(value)
    if value.isprintable():
        if "\u00a5" in value:  # money: ASCII plus yen signs (cp932 cannot encode the yen sign)
            rest = value.replace("\u00a5", "")
            if rest.isascii():
                if "\\" in rest or "~" in rest:
                    return len(value) + rest.count("\\") + rest.count("~")  # those two print full-width
                return len(value)
        elif "\\" not in value and "~" not in value:
            # Printable cp932 characters other than those two take one byte exactly when they print
            # single-width (ASCII, half-width katakana) and two when double (the private-use ones that
            # encode to one byte are not printable); the rest raise and are counted below.
            try:
                return len(value.encode("cp932"))
            except UnicodeEncodeError:
                pass
    else:
        value = _CONTROL.sub("", value)
    return len(value) + len(_DOUBLE_CHAR.findall(value))


def textln(value: str = "") -> bytes:
    """Text followed by LF (print and feed one line)."""
    return text(value) + LF
