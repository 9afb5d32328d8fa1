"""Device link health: debounce of short disconnects, backoff doubling and reset."""

from __future__ import annotations

import asyncio
import logging

import pytest

from agent.adapters.devices.link import Backoff, DeviceLink
from drivers.errors import DeviceDisconnected
from drivers.transport import Transport


def _never() -> Transport:
    raise AssertionError("not opened in these tests")


class TestBackoff:
    def test_doubles_to_cap_and_resets(self) -> None:
        """0.2, 0.4, 0.8 … capped, back to 0.2 after reset."""
        b = Backoff(0.2, 1.0)
        assert [b.next() for _ in range(5)] == [0.2, 0.4, 0.8, 1.0, 1.0]
        b.reset()
        assert b.next() == 0.2


class TestHealth:
    async def test_short_disconnect_is_debounced(self) -> None:
        """Within debounce_s of a drop the device still reads online, without a cashier message."""
        link = DeviceLink("p", "printer", _never, debounce_s=60)
        link.ok("ok")
        await link.fail(DeviceDisconnected("gone"), "Printer cable unplugged")
        health = link.health()
        assert health.state == "online" and health.cashier_message is None and health.last_error

    async def test_long_disconnect_is_offline_with_message(self) -> None:
        """After debounce_s the device is offline and the cashier is told why."""
        link = DeviceLink("p", "printer", _never, debounce_s=0.05)
        link.ok("ok")
        await link.fail(DeviceDisconnected("gone"), "Printer cable unplugged")
        await asyncio.sleep(0.1)
        health = link.health()
        assert health.state == "offline" and health.cashier_message == "Printer cable unplugged"

    def test_never_seen_is_connecting(self) -> None:
        """A device that never answered yet is 'connecting'."""
        assert DeviceLink("p", "printer", _never).health().state == "connecting"

    def test_faulty(self) -> None:
        """A connected device with garbled answers is 'faulty'."""
        link = DeviceLink("c", "card_reader", _never)
        link.ok()
        link.problem("garbled", faulty=True)
        assert link.health().state == "faulty"


class TestLogs:
    async def test_flapping_device_logs_once_per_interval(self, caplog: pytest.LogCaptureFixture) -> None:
        """1,000 drops and returns within one interval: one 'went down' and one 'is back' line; after the
        interval the next drop is logged with how many were held back."""
        now = [0.0]
        link = DeviceLink("p", "printer", _never)
        link.log.clock = lambda: now[0]
        caplog.set_level(logging.INFO, "agent.adapters.devices")
        link.ok()
        for _ in range(1000):
            await link.fail(DeviceDisconnected("gone"))
            link.ok()
        messages = [r.getMessage() for r in caplog.records]
        assert len(messages) == 2 and "went down" in messages[0] and "is back" in messages[1]
        now[0] = 61.0
        await link.fail(DeviceDisconnected("gone"))
        assert "(999 more suppressed in the last 61 s)" in caplog.records[-1].getMessage()
