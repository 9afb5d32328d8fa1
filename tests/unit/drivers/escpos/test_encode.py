"""Byte-exact tests of the ESC/POS encoder, cross-checked against python-escpos where both have it."""

from __future__ import annotations

import pytest
from escpos.printer import Dummy
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from drivers.escpos import encode as e
from drivers.simulators.escpos_parse import EscPosParser


def _escpos(call: str, *args: object, **kwargs: object) -> bytes:
    d = Dummy()
    getattr(d, call)(*args, **kwargs)
    return bytes(d.output)


class TestAgainstPythonEscpos:
    def test_init(self) -> None:
        """ESC @ equals python-escpos's hardware init."""
        assert e.init() == _escpos("hw", "INIT")

    @pytest.mark.parametrize("on", [True, False])
    def test_bold(self, on: bool) -> None:
        """ESC E n equals python-escpos set(bold=…)."""
        assert e.bold(on) == _escpos("set", bold=on)

    @pytest.mark.parametrize("dots", [0, 1, 2])
    def test_underline_starts_with_escpos_ank_command(self, dots: int) -> None:
        """Our underline is python-escpos's ESC - n followed by the Kanji twin FS - n."""
        ours = e.underline(dots)
        theirs = _escpos("set", underline=dots)
        assert ours == theirs + b"\x1c-" + bytes((dots,))

    @pytest.mark.parametrize("where", ["left", "center", "right"])
    def test_align(self, where: e.Align) -> None:
        """ESC a n equals python-escpos set(align=…)."""
        assert e.align(where) == _escpos("set", align=where)

    @pytest.mark.parametrize(("w", "h"), [(1, 1), (2, 2), (2, 1), (1, 2), (8, 8), (3, 5)])
    def test_size(self, w: int, h: int) -> None:
        """GS ! n equals python-escpos set(custom_size=True, width, height)."""
        assert e.size(w, h) == _escpos("set", custom_size=True, width=w, height=h)

    @pytest.mark.parametrize("on", [True, False])
    def test_invert(self, on: bool) -> None:
        """GS B n equals python-escpos set(invert=…)."""
        assert e.invert(on) == _escpos("set", invert=on)

    def test_cut_after_feed(self) -> None:
        """Feed 6 then full cut equals python-escpos cut()."""
        assert e.cut(feed_lines=6) == _escpos("cut")

    def test_partial_cut(self) -> None:
        """Feed 6 then partial cut equals python-escpos cut('PART')."""
        assert e.cut(partial=True, feed_lines=6) == _escpos("cut", "PART")

    @pytest.mark.parametrize("pin", [2, 5])
    def test_drawer_kick(self, pin: int) -> None:
        """ESC p m 50 50 equals python-escpos cashdraw(pin)."""
        assert e.drawer_kick(pin, 100, 100) == _escpos("cashdraw", pin)  # type: ignore[arg-type]

    @pytest.mark.parametrize("data", ["https://r.example/01JABCDEF", "0123456789", "x" * 300])
    @pytest.mark.parametrize(("ec", "escpos_ec"), [("L", 0), ("M", 1), ("Q", 2), ("H", 3)])
    def test_native_qr(self, data: str, ec: e.QrErrorLevel, escpos_ec: int) -> None:
        """GS ( k sequence equals python-escpos qr(native=True) for every error level."""
        assert e.qr(data, module=5, ec=ec) == _escpos("qr", data, ec=escpos_ec, size=5, native=True)

    def test_raster_image(self) -> None:
        """GS v 0 of a black/white image equals python-escpos image(impl='bitImageRaster')."""
        img = Image.new("RGB", (21, 5), (255, 255, 255))
        for x in range(0, 21, 3):
            img.putpixel((x, x % 5), (0, 0, 0))
        assert e.raster(img) == _escpos("image", img, impl="bitImageRaster")

    @pytest.mark.parametrize(
        ("sym", "data"), [("EAN13", "4901234567894"), ("CODE128", "{BABC-123"), ("CODE39", "ABC123")]
    )
    def test_barcode_function_b(self, sym: str, data: str) -> None:
        """GS h/w/f/H + GS k (function B) equals python-escpos's hardware barcode without centering."""
        theirs = _escpos("_hw_barcode", data, sym, 80, 2, "BELOW", "A", False, "B", False)
        assert e.barcode(data, sym, height=80, width=2) == theirs


class TestJapanese:
    def test_kanji_run_is_shift_jis_inside_fs_and_fs_dot(self) -> None:
        """領収書 is sent as Shift_JIS 97CC 8EFB 8F91 between FS & and FS .."""
        assert e.text("領収書") == b"\x1c&\x97\xcc\x8e\xfb\x8f\x91\x1c."

    def test_halfwidth_katakana_single_byte_outside_kanji_mode(self) -> None:
        """ｺｰﾋｰ is four single bytes of the Katakana table, no Kanji mode."""
        assert e.text("ｺｰﾋｰ") == b"\xba\xb0\xcb\xb0"

    def test_fullwidth_katakana_is_two_bytes(self) -> None:
        """Full-width カード is Shift_JIS (python-escpos sends '?')."""
        assert e.text("カード") == b"\x1c&\x83J\x81[\x83h\x1c."
        assert b"?" in _escpos("text", "カード")

    def test_yen_sign_is_0x5c_in_japan_set(self) -> None:
        """¥ prints as 0x5C (Japan international set); a backslash goes full-width instead."""
        assert e.text("¥1,000") == b"\\1,000"
        assert e.text("a\\b") == b"a\x1c&\x81_\x1c.b"

    def test_mixed_line(self) -> None:
        """Kanji mode toggles only around the double-byte runs."""
        assert e.text("合計 ¥100") == b"\x1c&\x8d\x87\x8cv\x1c. \\100"

    def test_unencodable_character_becomes_fullwidth_question_mark(self) -> None:
        """A character Shift_JIS lacks (emoji) prints as ？, keeping the column count."""
        assert e.text("😀") == b"\x1c&\x81H\x1c."

    def test_control_characters_never_become_commands(self) -> None:
        """The ESC/GS/NUL bytes inside product text are dropped; what is left prints as plain text."""
        assert e.text("A\x1b@B\x1dV\x00") == b"A@BV"

    def test_setup(self) -> None:
        """ESC R 8, ESC t 1, FS C 1 select Japan set, Katakana table, Shift_JIS."""
        assert e.japanese_setup() == b"\x1bR\x08\x1bt\x01\x1cC\x01"

    def test_display_width(self) -> None:
        """Kanji count two columns, ASCII and half-width kana one."""
        assert e.display_width("合計ｱ¥1") == 2 + 2 + 1 + 1 + 1

    @given(st.text(max_size=40))
    def test_text_never_emits_command_bytes_outside_kanji_toggles(self, value: str) -> None:
        """Whatever the text, the only control bytes are FS & / FS . and LF."""
        out = e.text(value).replace(b"\x1c&", b"").replace(b"\x1c.", b"")
        assert not any(b < 0x20 and b != 0x0A for b in out)

    @given(st.text(max_size=40))
    def test_display_width_matches_printed_columns(self, value: str) -> None:
        """The layout width of any text equals the columns its bytes take (1 per single byte, 2 per pair)."""
        printed = e.text(value).replace(b"\x1c&", b"").replace(b"\x1c.", b"")
        assert e.display_width(value) == len(printed)

    @given(st.text(alphabet=st.sampled_from("領収書合計お釣りｱｲｳｰabcXYZ019 ¥,.-"), max_size=40))
    def test_round_trip_through_printer_parser(self, value: str) -> None:
        """Encoded text parses back (as the printer would print it) to the same characters."""
        parser = EscPosParser()
        parser.feed(e.textln(value))
        assert parser.paper.text() == value


class TestValidation:
    def test_bad_arguments_raise(self) -> None:
        """Out-of-range parameters raise ValueError instead of emitting a broken command."""
        for bad in (
            lambda: e.size(9, 1),
            lambda: e.underline(3),
            lambda: e.qr(""),
            lambda: e.feed(256),
            lambda: e.barcode("1", "NOPE"),
            lambda: e.status_request(5),
        ):
            with pytest.raises(ValueError):
                bad()

    def test_status_request(self) -> None:
        """DLE EOT 4 is 10 04 04."""
        assert e.status_request(4) == b"\x10\x04\x04"
