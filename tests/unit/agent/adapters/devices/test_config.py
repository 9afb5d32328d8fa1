"""The [devices] schema: valid tables pass, every bad key is named."""

from __future__ import annotations

import pytest

from agent.adapters.devices.config import DevicesConfigError, parse_devices_config


class TestDevicesConfig:
    def test_empty_means_no_devices(self) -> None:
        """An empty table configures nothing."""
        cfg = parse_devices_config({})
        assert cfg.printer is None and cfg.scanner is None and cfg.card_reader is None

    def test_full_table(self) -> None:
        """Serial printer, serial scanner and reader with defaults filled in."""
        cfg = parse_devices_config(
            {
                "printer": {"transport": "serial", "path": "/dev/serial/by-id/p", "baudrate": 38400},
                "scanner": {"transport": "serial", "path": "/dev/serial/by-id/s"},
                "card_reader": {"path": "/dev/serial/by-id/c", "result_timeout_s": 30},
            }
        )
        assert cfg.printer is not None and cfg.printer.baudrate == 38400 and cfg.printer.columns == 42
        assert cfg.card_reader is not None and cfg.card_reader.retries == 3

    def test_tcp_printer_needs_host(self) -> None:
        """A tcp printer without host is refused with the reason."""
        with pytest.raises(DevicesConfigError, match="needs host"):
            parse_devices_config({"printer": {"transport": "tcp"}})

    def test_errors_name_keys(self) -> None:
        """Unknown keys and bad values are reported as devices.<path>."""
        with pytest.raises(DevicesConfigError) as info:
            parse_devices_config(
                {"printer": {"transport": "serial", "path": "/x", "baudrate": 7, "colour": 1}, "fax": {}}
            )
        text = str(info.value)
        assert (
            "devices.printer.baudrate" in text and "devices.printer.colour" in text and "devices.fax" in text
        )
