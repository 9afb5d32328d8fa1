"""Property tests of the printer simulator's ESC/POS parser: any bytes a host sends, cut anywhere, print
the same paper as in one piece, and nothing raises."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.simulators.escpos_parse import EscPosParser, Paper
from tests.unit.drivers.chunking import split_at

# Command-heavy bytes: prefixes of real commands mixed with text and arbitrary bytes.
PIECE = st.one_of(
    st.binary(max_size=30),
    st.sampled_from([b"\x1b@", b"\x1ba\x01", b"\x1bE\x01", b"\x1d!\x11", b"\x1c&", b"\x1c.", b"\x1dV\x01",
                     b"\x1dVA\x03", b"\x1d(k\x03\x001Q0", b"\x1d(k\x05\x001P0ab", b"\x1dk\x49\x03{Bx",
                     b"\x1dk\x04AB\x00", b"\x1dv0\x00\x01\x00\x02\x00", b"\x10\x04\x01", b"\x1bd\x03",
                     b"\x1bp\x00\x32\x32", b"\n", "漢字".encode("cp932")]),
)


def _paper(data: bytes, cuts: list[int]) -> tuple[Paper, list[int]]:
    statuses: list[int] = []
    parser = EscPosParser(on_status=statuses.append)
    for chunk in split_at(data, cuts):
        parser.feed(chunk)
    return parser.paper, statuses


class TestEscPosParserProperties:
    @settings(max_examples=500)
    @given(st.lists(PIECE, max_size=30), st.lists(st.integers(0, 900), max_size=15))
    def test_any_bytes_any_chunking_same_paper(self, pieces: list[bytes], cuts: list[int]) -> None:
        """Chunking never changes what is printed or which status requests are answered."""
        data = b"".join(pieces)
        assert _paper(data, cuts) == _paper(data, [])
