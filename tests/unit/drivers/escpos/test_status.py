"""DLE EOT status decoding."""

from __future__ import annotations

from drivers.escpos.status import decode, paper_from, valid_status_byte


class TestStatus:
    def test_paper_sensor_bits(self) -> None:
        """0x12 ok, bits 2+3 near end, bits 5+6 out."""
        assert paper_from(0x12) == "ok"
        assert paper_from(0x12 | 0x0C) == "near_end"
        assert paper_from(0x12 | 0x60) == "out"

    def test_cover_open_and_offline(self) -> None:
        """DLE EOT 2 bit 2 is cover open; DLE EOT 1 bit 3 is offline."""
        status = decode(0x1A, 0x16, 0x12)
        assert status.cover_open and not status.online and status.paper == "ok"

    def test_fixed_bits(self) -> None:
        """Only bytes with the fixed bit pattern count as status answers."""
        assert valid_status_byte(0x12) and valid_status_byte(0x7E)
        assert not valid_status_byte(0x00) and not valid_status_byte(0xFF) and not valid_status_byte(0x13)
