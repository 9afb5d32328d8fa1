"""Card reader framing: exact bytes, incremental decoding, garbage and half frames."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from drivers.cardreader.frame import BadFrame, Control, Frame, FrameDecoder, encode_frame, lrc


class TestEncode:
    def test_exact_bytes(self) -> None:
        """STX, big-endian length, payload, ETX, XOR of everything after STX."""
        assert encode_frame(b"AB") == bytes(
            [0x02, 0x00, 0x02, 0x41, 0x42, 0x03, 0x00 ^ 0x02 ^ 0x41 ^ 0x42 ^ 0x03]
        )

    def test_lrc(self) -> None:
        """LRC is the XOR of the bytes."""
        assert lrc(b"\x01\x02\x04") == 7


class TestDecoder:
    def test_byte_by_byte(self) -> None:
        """A frame fed one byte at a time decodes once, at its last byte."""
        dec, frame, events = FrameDecoder(), encode_frame(b'{"t":"x"}'), []
        for b in frame:
            events += dec.feed(bytes((b,)))
        assert events == [Frame(b'{"t":"x"}')] and not dec.pending

    def test_ack_nak_and_garbage(self) -> None:
        """Lone ACK/NAK are events; other stray bytes are counted and skipped."""
        dec = FrameDecoder()
        assert dec.feed(b"\x06zz\x15") == [Control(True), Control(False)]
        assert dec.garbage == 2

    def test_bad_lrc_then_resync(self) -> None:
        """A corrupted frame is reported bad and the next good frame still decodes."""
        bad = bytearray(encode_frame(b"hello"))
        bad[-1] ^= 0xFF
        events = FrameDecoder().feed(bytes(bad) + encode_frame(b"ok"))
        assert isinstance(events[0], BadFrame) and events[-1] == Frame(b"ok")

    def test_half_frame_dropped_on_reset(self) -> None:
        """reset() (inter-byte timeout) forgets a half frame; the repeat decodes cleanly."""
        dec, frame = FrameDecoder(), encode_frame(b"hello")
        dec.feed(frame[:4])
        dec.reset()
        assert dec.feed(frame) == [Frame(b"hello")]

    @given(st.binary(max_size=300))
    def test_random_bytes_never_raise(self, junk: bytes) -> None:
        """Any byte soup decodes to events without an exception."""
        FrameDecoder().feed(junk)

    @given(
        st.binary(max_size=64).filter(lambda b: b"\x02" not in b),
        st.binary(min_size=1, max_size=200),
        st.integers(1, 17),
    )
    def test_frame_after_garbage_found_in_any_chunking(self, junk: bytes, payload: bytes, chunk: int) -> None:
        """Garbage without STX before a frame never hides it, however the bytes are split."""
        data, dec, events = junk + encode_frame(payload), FrameDecoder(), []
        for i in range(0, len(data), chunk):
            events += dec.feed(data[i : i + chunk])
        assert [ev for ev in events if isinstance(ev, Frame)] == [Frame(payload)]
