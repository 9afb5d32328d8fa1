"""Keyboard-wedge scanners are optional: without the evdev module the device says so instead of failing."""

from __future__ import annotations

import asyncio
import importlib.util

import pytest

from agent.adapters.devices.config import ScannerConfig
from agent.adapters.devices.scanner import UNAVAILABLE, ScannerService
from drivers.scanner.evdev_wedge import evdev_available


class TestEvdevOptional:
    def test_availability_matches_the_module(self) -> None:
        """evdev_available() is true exactly when the module can be found."""
        assert evdev_available() == (importlib.util.find_spec("evdev") is not None)

    @pytest.mark.skipif(importlib.util.find_spec("evdev") is not None, reason="evdev is installed here")
    async def test_missing_module_reports_faulty(self) -> None:
        """Configured as evdev without the module: the scanner is 'faulty' with a message saying why."""
        service = ScannerService(ScannerConfig(transport="evdev", path="/dev/input/event7"))
        await service.start()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        health = service.link.health()
        await service.stop()
        assert health.state == "faulty" and health.cashier_message == UNAVAILABLE
