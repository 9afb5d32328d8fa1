"""Property tests of the DLE EOT status answer (docs/devices.md#printer-escpos): any bytes the printer
sends back decode to a status that follows the bits, or are refused with ProtocolError."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from drivers.errors import ProtocolError
from drivers.escpos.status import PrinterStatus, parse_answer

# Every DLE EOT answer byte is 0b0xx1_xx10: bits 1 and 4 set, bits 0 and 7 clear (written out here, not
# taken from the product).
VALID = sorted(b for b in range(256) if b & 0x02 and not b & 0x01 and b & 0x10 and not b & 0x80)


class TestParseAnswer:
    def test_the_fixed_bits_leave_16_bytes(self) -> None:
        """Of the 256 byte values exactly the 16 with the fixed bits are status bytes."""
        assert len(VALID) == 16 and VALID[0] == 0x12 and VALID[-1] == 0x7E

    @given(st.binary(max_size=8))
    def test_anything_else_is_refused(self, answer: bytes) -> None:
        """A wrong length or any byte without the fixed bits raises ProtocolError, nothing else."""
        try:
            status = parse_answer(answer)
        except ProtocolError:
            assert len(answer) != 3 or any(b not in VALID for b in answer)
            return
        assert len(answer) == 3 and all(b in VALID for b in answer) and isinstance(status, PrinterStatus)

    @given(st.sampled_from(VALID), st.sampled_from(VALID), st.sampled_from(VALID))
    def test_valid_answers_follow_the_bits(self, printer: int, offline: int, paper: int) -> None:
        """DLE EOT 1 bit 3 = offline; 2 bit 2 = cover open; 4 bits 5/6 = paper out, bits 2/3 = near end."""
        status = parse_answer(bytes((printer, offline, paper)))
        assert status.online is not bool(printer & 0x08)
        assert status.cover_open is bool(offline & 0x04)
        expected = "out" if paper & 0x60 else "near_end" if paper & 0x0C else "ok"
        assert status.paper == expected
