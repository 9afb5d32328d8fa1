"""Property tests of the card reader framing (docs/card-reader-protocol.md#frame) on arbitrary bytes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.cardreader.frame import (
    ACK,
    ETX,
    MAX_PAYLOAD,
    NAK,
    STX,
    BadFrame,
    Control,
    Event,
    Frame,
    FrameDecoder,
    encode_frame,
    lrc,
)
from tests.unit.drivers.chunking import split_at

PAYLOAD = st.binary(min_size=1, max_size=MAX_PAYLOAD)
# Bytes outside a frame that are neither STX nor ACK/NAK: skipped as garbage.
NOISE = st.binary(max_size=64).map(lambda b: bytes(x for x in b if x not in (STX, ACK, NAK)))


def _feed(data: bytes, cuts: list[int]) -> tuple[list[Event], FrameDecoder]:
    """Feed `data` split at the `cuts` offsets (any chunking)."""
    decoder, events = FrameDecoder(), []
    for chunk in split_at(data, cuts):
        events += decoder.feed(chunk)
    return events, decoder


class TestDecodeAnyBytes:
    @settings(max_examples=500)
    @given(st.binary(max_size=3000), st.lists(st.integers(0, 3000), max_size=20))
    def test_arbitrary_bytes_never_raise_and_chunking_does_not_matter(
        self, data: bytes, cuts: list[int]
    ) -> None:
        """Any byte soup, cut anywhere, decodes to the same events as in one piece; nothing raises."""
        whole, _ = _feed(data, [])
        chunked, _ = _feed(data, cuts)
        assert chunked == whole
        assert all(isinstance(e, Frame | BadFrame | Control) for e in whole)
        assert all(1 <= len(e.payload) <= MAX_PAYLOAD for e in whole if isinstance(e, Frame))

    @given(st.binary(max_size=2000))
    def test_every_good_frame_reported_is_a_real_frame(self, data: bytes) -> None:
        """A Frame event is only ever a payload whose own encoding occurs in the input."""
        events, _ = _feed(data, [])
        for event in events:
            if isinstance(event, Frame):
                assert encode_frame(event.payload) in data


class TestRoundTrip:
    @settings(max_examples=300)
    @given(NOISE, st.lists(PAYLOAD, min_size=1, max_size=4), st.lists(st.integers(0, 5000), max_size=10))
    def test_encode_then_decode(self, noise: bytes, payloads: list[bytes], cuts: list[int]) -> None:
        """Frames behind garbage decode to their payloads in order, however the bytes are chunked."""
        events, decoder = _feed(noise + b"".join(encode_frame(p) for p in payloads), cuts)
        assert events == [Frame(p) for p in payloads]
        assert not decoder.pending and decoder.garbage == len(noise)

    @given(PAYLOAD)
    def test_frame_layout(self, payload: bytes) -> None:
        """STX, big-endian length, payload, ETX, then the XOR of everything between STX and the LRC."""
        frame = encode_frame(payload)
        assert frame[0] == STX and int.from_bytes(frame[1:3], "big") == len(payload)
        assert frame[3:-2] == payload and frame[-2] == ETX and frame[-1] == lrc(frame[1:-1])

    @pytest.mark.parametrize("size", [0, MAX_PAYLOAD + 1, 65535])
    def test_encoder_refuses_sizes_outside_the_protocol(self, size: int) -> None:
        """A payload of 0 or more than 1024 bytes cannot be framed."""
        with pytest.raises(ValueError, match="payload must be"):
            encode_frame(b"x" * size)


class TestRefused:
    @given(PAYLOAD, st.integers(1, 255))
    def test_bad_lrc_is_refused_and_the_repeat_decodes(self, payload: bytes, flip: int) -> None:
        """Any wrong LRC gives a BadFrame, never a Frame of that payload; once the line goes quiet (the half
        frame a stray STX in the corrupted bytes may have begun is dropped) the repeated frame decodes."""
        bad = bytearray(encode_frame(payload))
        bad[-1] ^= flip
        decoder = FrameDecoder()
        events = decoder.feed(bytes(bad))
        assert events[0] == BadFrame("LRC mismatch") and Frame(payload) not in events
        decoder.reset()
        assert decoder.feed(encode_frame(payload)) == [Frame(payload)]

    @given(PAYLOAD, st.integers(0, 255).filter(lambda b: b != ETX))
    def test_wrong_etx_is_refused(self, payload: bytes, etx: int) -> None:
        """A frame whose ETX byte is anything else is a BadFrame."""
        bad = bytearray(encode_frame(payload))
        bad[-2] = etx
        events, _ = _feed(bytes(bad), [])
        assert events[0] == BadFrame("missing ETX") and Frame(payload) not in events

    @given(st.sampled_from([0]) | st.integers(MAX_PAYLOAD + 1, 65535), NOISE)
    def test_length_out_of_range_is_refused_at_once(self, size: int, noise: bytes) -> None:
        """LEN 0 or over 1024 is refused as soon as the two length bytes arrive: nothing waits for 64 KiB;
        after the quiet line the next frame decodes."""
        decoder = FrameDecoder()
        events = decoder.feed(bytes((STX,)) + size.to_bytes(2, "big"))
        assert events[0] == BadFrame("length out of range")
        decoder.feed(noise)
        decoder.reset()
        assert decoder.feed(encode_frame(b"ok")) == [Frame(b"ok")]
