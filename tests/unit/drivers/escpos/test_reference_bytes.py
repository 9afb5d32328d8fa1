"""ESC/POS bytes checked against a reference written by hand from the command table in docs/devices.md
(docs/devices.md#escpos-commands), not derived from the encoder: a one-byte change in the encoder fails here.

The captured golden fixture (test_golden.py) guards against any change; this file says what is right.
"""

from __future__ import annotations

import pytest
from PIL import Image

from drivers.escpos import encode as e
from drivers.escpos.receipt import ENGLISH, ReceiptLine, SaleReceipt, build_receipt

# Shift_JIS (cp932) codes of the Japanese words below, from the JIS X 0208 table.
SJIS = {
    "お": b"\x82\xa8", "茶": b"\x92\x83", "テ": b"\x83\x65", "ス": b"\x83\x58", "ト": b"\x83\x67",
    "領": b"\x97\xcc", "収": b"\x8e\xfb", "書": b"\x8f\x91",
}
KANJI_ON, KANJI_OFF = b"\x1c\x26", b"\x1c\x2e"  # FS & / FS .


def kanji(word: str) -> bytes:
    """A run of double-byte characters as the printer wants it: FS &, Shift_JIS, FS .."""
    return KANJI_ON + b"".join(SJIS[ch] for ch in word) + KANJI_OFF


class TestCommands:
    @pytest.mark.parametrize(("produced", "expected"), [
        (e.init(), b"\x1b\x40"),                                   # ESC @
        (e.japanese_setup(), b"\x1b\x52\x08\x1b\x74\x01\x1c\x43\x01"),  # ESC R 8, ESC t 1, FS C 1
        (e.align("left"), b"\x1b\x61\x00"),                        # ESC a 0
        (e.align("center"), b"\x1b\x61\x01"),                      # ESC a 1
        (e.align("right"), b"\x1b\x61\x02"),                       # ESC a 2
        (e.bold(True), b"\x1b\x45\x01"),                           # ESC E 1
        (e.bold(False), b"\x1b\x45\x00"),                          # ESC E 0
        (e.underline(2), b"\x1b\x2d\x02\x1c\x2d\x02"),             # ESC - 2, FS - 2
        (e.size(2, 2), b"\x1d\x21\x11"),                           # GS ! (w-1)<<4 | (h-1)
        (e.size(1, 2), b"\x1d\x21\x01"),
        (e.size(8, 1), b"\x1d\x21\x70"),
        (e.invert(True), b"\x1d\x42\x01"),                         # GS B 1
        (e.feed(3), b"\x1b\x64\x03"),                              # ESC d 3
        (e.cut(), b"\x1d\x56\x00"),                                # GS V 0: full cut
        (e.cut(partial=True, feed_lines=4), b"\x1b\x64\x04\x1d\x56\x01"),  # ESC d 4, GS V 1
        (e.drawer_kick(2), b"\x1b\x70\x00\x32\x32"),               # ESC p 0 t1 t2 (2 ms units: 100 ms)
        (e.drawer_kick(5, 200, 50), b"\x1b\x70\x01\x64\x19"),
        (e.status_request(1), b"\x10\x04\x01"),                    # DLE EOT 1
        (e.status_request(4), b"\x10\x04\x04"),                    # DLE EOT 4
    ])
    def test_fixed_commands(self, produced: bytes, expected: bytes) -> None:
        """Each command is exactly the bytes of the table."""
        assert produced == expected

    def test_qr(self) -> None:
        """GS ( k: pL pH cn=49 fn, for model 2, module 4, level M, store the data, print."""
        assert e.qr("AB", module=4, ec="M") == (
            b"\x1d\x28\x6b\x04\x00\x31\x41\x32\x00"   # fn 65: model 2
            b"\x1d\x28\x6b\x03\x00\x31\x43\x04"       # fn 67: module size 4
            b"\x1d\x28\x6b\x03\x00\x31\x45\x31"       # fn 69: error correction M (49)
            b"\x1d\x28\x6b\x05\x00\x31\x50\x30AB"     # fn 80: store 2 bytes (pL = 2 + 3)
            b"\x1d\x28\x6b\x03\x00\x31\x51\x30"       # fn 81: print
        )

    def test_barcode(self) -> None:
        """GS h, GS w, GS f, GS H, then GS k 73 n with CODE128 code set B ({B)."""
        assert e.barcode("AB12") == (
            b"\x1d\x68\x40\x1d\x77\x03\x1d\x66\x00\x1d\x48\x02\x1d\x6b\x49\x06{BAB12"
        )

    def test_raster(self) -> None:
        """GS v 0 m xL xH yL yH: 10 dots wide is 2 bytes a row, black dots are 1 bits, MSB first."""
        image = Image.new("1", (10, 2), 1)
        image.putpixel((0, 0), 0)
        image.putpixel((9, 1), 0)
        assert e.raster(image) == b"\x1d\x76\x30\x00\x02\x00\x02\x00" + b"\x80\x00" + b"\x00\x40"

    def test_japanese_text(self) -> None:
        """Kanji in FS & … FS ., the yen sign as 0x5C of the Japan set, half-width kana as single bytes."""
        assert e.text("お茶 ¥100 ｺｰﾋｰ") == kanji("お茶") + b" \x5c100 \xba\xb0\xcb\xb0"

    def test_text_never_carries_a_command(self) -> None:
        """Control characters in text are dropped: ESC @ and GS V inside a name print as '@' and 'V'."""
        assert e.text("a\x1b@b\x1dV\x00c") == b"a@bVc"


def _rule(width: int) -> bytes:
    return b"-" * width + b"\n"


class TestReceipts:
    def test_english_cash_receipt(self) -> None:
        """A 32-column cash receipt, byte for byte."""
        receipt = SaleReceipt("0193a1b2-0000-7000-8000-000000000001", 7, "Shop", 1764034200000, "JPY", 300,
                              27, "cash", (ReceiptLine("Tea", 2, 300),), 500, 200, qr_url="https://r.example/r/1")
        url = b"https://r.example/r/1"
        assert build_receipt(receipt, width=32, labels=ENGLISH) == b"".join([
            b"\x1b\x40", b"\x1b\x52\x08\x1b\x74\x01\x1c\x43\x01",   # ESC @, Japan set, Katakana, Shift_JIS
            b"\x1b\x61\x01", b"\x1b\x45\x01", b"\x1d\x21\x11",     # centre, bold, double size
            b"Shop\n", b"\x1d\x21\x00", b"RECEIPT\n",
            b"\x1b\x45\x00", b"\x1b\x61\x00",                     # bold off, left
            b"2025-11-25 10:30       No.000007\n",                # 1764034200 s is 10:30 JST
            _rule(32),
            b"Tea                      x2 \x5c300\n",
            _rule(32),
            b"\x1b\x45\x01\x1d\x21\x01", b"TOTAL                       \x5c300\n",  # bold, double height
            b"\x1d\x21\x00\x1b\x45\x00",
            b"(incl. tax)                  \x5c27\n",
            b"Payment                     Cash\n",
            b"Cash                        \x5c500\n",
            b"Change                      \x5c200\n",
            _rule(32),
            b"\x1b\x61\x01",                                      # centre the QR
            b"\x1d\x28\x6b\x04\x00\x31\x41\x32\x00\x1d\x28\x6b\x03\x00\x31\x43\x04\x1d\x28\x6b\x03\x00\x31\x45\x31",
            b"\x1d\x28\x6b" + bytes((len(url) + 3, 0)) + b"\x31\x50\x30" + url,
            b"\x1d\x28\x6b\x03\x00\x31\x51\x30",
            b"\x1b\x64\x01",                                      # ESC d 1
            b"0193a1b2-0000-7000-8000-0000000\n",                 # the id, cut to the paper
            b"\x1b\x61\x00", b"\x1b\x64\x04", b"\x1d\x56\x01",    # left, feed 4, partial cut
        ])

    def test_japanese_card_receipt_with_drawer_kick(self) -> None:
        """The start of a Japanese card receipt (Kanji runs) and its end (cut, then the drawer kick)."""
        receipt = SaleReceipt("r-2", 8, "テスト", 1764034200000, "JPY", 120, 10, "card",
                              (ReceiptLine("お茶", 1, 120),), card_brand="VISA", card_last_4="4242",
                              approval_code="004211")
        out = build_receipt(receipt, width=32, kick_drawer=True)
        head = b"".join([
            b"\x1b\x40\x1b\x52\x08\x1b\x74\x01\x1c\x43\x01\x1b\x61\x01\x1b\x45\x01\x1d\x21\x11",
            kanji("テスト"), b"\n", b"\x1d\x21\x00", kanji("領収書"), b"\n", b"\x1b\x45\x00\x1b\x61\x00",
            b"2025-11-25 10:30       No.000008\n", _rule(32),
            kanji("お茶"), b" " * 24, b"\x5c120\n",                  # お茶 takes 4 columns
        ])
        assert out.startswith(head)
        assert out.endswith(b"r-2\n" + b"\x1b\x61\x00\x1b\x64\x04\x1d\x56\x01" + b"\x1b\x70\x00\x32\x32")
        assert b"VISA ****4242\n" in out and b"004211\n" in out
