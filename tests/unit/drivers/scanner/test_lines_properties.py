"""Property tests of the scanner line splitter (docs/devices.md#scanner) on arbitrary bytes: every line
ends as a code or a counted rejection, the same however the bytes are chunked, and nothing raises."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.scanner.lines import LineSplitter
from tests.unit.drivers.chunking import split_at

LINE = st.one_of(
    st.binary(max_size=40),  # mostly garbage, invalid UTF-8 included
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40).map(str.encode),
    st.integers(0, 3000).map(lambda n: b"9" * n),  # printable but possibly far too long
    st.text(max_size=10).map(lambda t: t.encode("utf-8", "surrogatepass")),
)
STREAM = st.lists(st.tuples(LINE, st.sampled_from([b"\r", b"\n", b"\r\n", b""])), max_size=12)


def _model(data: bytes, max_len: int) -> tuple[list[str], int]:
    """What the splitter must do, written from the rule: CR or LF ends a line, an empty line is skipped, a
    line of 1..max_len printable ASCII bytes is a code, any other line (and a trailing half) is rejected."""
    *lines, tail = re.split(rb"[\r\n]", data)
    codes = [line.decode() for line in lines
             if line and len(line) <= max_len and all(0x20 <= b <= 0x7E for b in line)]
    rejected = sum(1 for line in lines if line) - len(codes) + (1 if tail else 0)
    return codes, rejected


def _run(data: bytes, cuts: list[int], max_len: int) -> tuple[list[str], int]:
    split, codes = LineSplitter(max_len), []
    for chunk in split_at(data, cuts):
        codes += split.feed(chunk)
    split.drop_partial()
    return codes, split.rejected


class TestLineSplitterProperties:
    @settings(max_examples=500)
    @given(STREAM, st.lists(st.integers(0, 40_000), max_size=12), st.sampled_from([8, 64, 512, 2048]))
    def test_matches_the_rule_for_any_bytes_and_chunking(
        self, stream: list[tuple[bytes, bytes]], cuts: list[int], max_len: int
    ) -> None:
        """Codes and rejections equal the model's, for garbage, invalid UTF-8, huge lines and any chunks."""
        data = b"".join(line + end for line, end in stream)
        assert _run(data, cuts, max_len) == _model(data, max_len)

    @settings(max_examples=200)
    @given(st.binary(min_size=1, max_size=256), st.integers(1, 8))
    def test_a_megabyte_without_a_line_end_is_one_rejection(self, junk: bytes, repeat: int) -> None:
        """A huge run with no CR/LF never yields a code and costs one rejection, not memory."""
        split = LineSplitter()
        body = junk.replace(b"\r", b"").replace(b"\n", b"") or b"x"
        for _ in range(repeat):
            assert split.feed(body * (1_048_576 // len(body) // repeat + 1)) == []
        assert len(split._buf) <= split.max_len
        assert split.feed(b"\r\nOK\r\n") == ["OK"] and split.rejected == 1
