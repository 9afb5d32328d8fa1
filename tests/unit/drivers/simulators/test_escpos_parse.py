"""The simulator's ESC/POS parser: chunk independence, styles, status requests."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from drivers.escpos import encode as e
from drivers.simulators.escpos_parse import Barcode, Cut, EscPosParser, Qr, Raster, TextLine

DOC = (
    e.init()
    + e.japanese_setup()
    + e.bold(True)
    + e.size(2, 2)
    + e.textln("店")
    + e.bold(False)
    + e.size(1, 1)
    + e.align("right")
    + e.textln("¥100")
    + e.qr("https://x/1")
    + e.barcode("4901234567894", "EAN13")
    + e.status_request(4)
    + e.cut(partial=True, feed_lines=2)
)


class TestParser:
    def test_elements(self) -> None:
        """Text carries its style; QR, barcode and cut are recognised; status request calls back."""
        asked: list[int] = []
        parser = EscPosParser(on_status=asked.append)
        parser.feed(DOC)
        els = parser.paper.elements
        assert els[0] == TextLine("店", bold=True, width=2, height=2)
        assert els[1] == TextLine("¥100", align="right")
        assert Qr("https://x/1", 3, "right") in els and Barcode("EAN13", "4901234567894") in els
        assert els[-1] == Cut(partial=True) and asked == [4]

    def test_raster(self) -> None:
        """A GS v 0 image is kept with its size and bits."""
        parser = EscPosParser()
        parser.feed(e.raster(Image.new("1", (16, 2), 0)))
        assert parser.paper.elements == [Raster(2, 2, b"\xff" * 4)]

    @given(st.lists(st.integers(1, len(DOC) - 1), max_size=8))
    def test_any_chunking_same_paper(self, cuts: list[int]) -> None:
        """Splitting the stream anywhere gives the same paper."""
        whole = EscPosParser()
        whole.feed(DOC)
        parts, prev, parser = sorted(set(cuts)), 0, EscPosParser()
        for cut in [*parts, len(DOC)]:
            parser.feed(DOC[prev:cut])
            prev = cut
        assert parser.paper == whole.paper

    @given(st.binary(max_size=500))
    def test_random_bytes_never_raise(self, junk: bytes) -> None:
        """Garbage is parsed without an exception."""
        EscPosParser(on_status=lambda n: None).feed(junk)
