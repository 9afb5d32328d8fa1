"""Scanner line splitting: CR, LF, CRLF; garbage and overlong lines dropped."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from drivers.scanner.lines import LineSplitter

CODE = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=60)


class TestLineSplitter:
    def test_terminators(self) -> None:
        """CR, LF and CRLF each end one code; empty lines are skipped."""
        assert LineSplitter().feed(b"A\rB\nC\r\n\r\nD") == ["A", "B", "C"]

    def test_garbage_line_rejected(self) -> None:
        """A line with non-printable bytes is counted as rejected, the next code still arrives."""
        split = LineSplitter()
        assert split.feed(b"\x00\xff\x1b\r\nOK\r\n") == ["OK"]
        assert split.rejected == 1

    def test_overlong_line_rejected(self) -> None:
        """A line longer than max_len is dropped whole."""
        split = LineSplitter(max_len=8)
        assert split.feed(b"0123456789ABC\r\nshort\r\n") == ["short"]
        assert split.rejected == 1

    def test_partial_dropped(self) -> None:
        """drop_partial() forgets a half code."""
        split = LineSplitter()
        split.feed(b"HALF")
        split.drop_partial()
        assert split.feed(b"WHOLE\n") == ["WHOLE"]

    @given(st.lists(CODE, max_size=10), st.integers(1, 13))
    def test_any_chunking_gives_same_codes(self, codes: list[str], chunk: int) -> None:
        """However the stream is split, the same codes come out."""
        data, split, out = b"".join(c.encode() + b"\r\n" for c in codes), LineSplitter(), []
        for i in range(0, len(data), chunk):
            out += split.feed(data[i : i + chunk])
        assert out == codes

    @given(st.binary(max_size=400))
    def test_random_bytes_only_yield_printable_codes(self, junk: bytes) -> None:
        """Byte soup never raises and never yields a code with control characters."""
        for code in LineSplitter().feed(junk):
            assert code.isprintable() and code.isascii()
