"""Card reader health over a real pty: it comes from the last real exchange with the reader, never from the
port merely being open (docs/devices.md#hot-plug-and-health)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agent.adapters.devices import CardReaderService, Devices, build_devices
from agent.adapters.store import AgentDatabase
from drivers.errors import DeviceTimeout, ProtocolError
from drivers.simulators.cardreader import CardReaderSimulator, CardRules
from tests.integration.drivers.helpers import wait_until

RETRIES = 2


@pytest.fixture
async def card(tmp_path: Path) -> AsyncIterator[CardReaderSimulator]:
    sim = CardReaderSimulator(CardRules(present_delay=0.01))
    sim.start_pty(tmp_path / "reader")
    yield sim
    await sim.stop()


async def _devices(tmp_path: Path, card: CardReaderSimulator, **extra: Any) -> AsyncIterator[Devices]:
    config = {
        "reopen_max_s": 0.2,
        "card_reader": {"path": card.path, "ack_timeout_s": 0.2, "retries": RETRIES, "result_timeout_s": 0.5,
                        "cancel_grace_s": 0.3, **extra},
    }
    database = await AgentDatabase.open(tmp_path / "agent.sqlite3")
    devices = build_devices(config, database)
    await devices.manager.start()
    yield devices
    await devices.manager.stop()
    await database.close()


@pytest.fixture
async def devices(tmp_path: Path, card: CardReaderSimulator) -> AsyncIterator[Devices]:
    async for d in _devices(tmp_path, card):
        yield d


def _reader(devices: Devices) -> CardReaderService:
    assert devices.card_reader is not None
    return devices.card_reader


class TestCardReaderHealth:
    async def test_reader_refusing_everything_stays_faulty_after_a_timed_out_sale(
        self, devices: Devices, card: CardReaderSimulator
    ) -> None:
        """A sale lost on a half frame, then a reader that NAKs every frame: faulty, and it stays faulty with
        the cashier told, because the watch loop's own exchange with the reader is refused as well."""
        reader = _reader(devices)
        await wait_until(lambda: devices.manager.health()["card_reader"].state == "online")
        card.rules.mode = "half"
        with pytest.raises(DeviceTimeout) as lost:
            await reader.authorize(100, "JPY", "sale-half")
        assert lost.value.outcome_unknown
        card.rules.mode = "nak"
        with pytest.raises(ProtocolError):
            await reader.authorize(100, "JPY", "sale-nak")
        assert devices.manager.health()["card_reader"].state == "faulty"
        # Wait until the watch loop had one whole exchange refused (each frame is sent 1 + RETRIES times),
        # or until the health changed: the bug read "online" again here.
        refused = card.naks_sent + 2 * (RETRIES + 1)
        await wait_until(lambda: devices.manager.health()["card_reader"].state != "faulty"
                         or card.naks_sent >= refused)
        health = devices.manager.health()["card_reader"]
        assert health.state == "faulty"
        assert health.cashier_message and "refused" in (health.last_error or "")

    async def test_faulty_reader_reads_online_once_it_answers_again(
        self, devices: Devices, card: CardReaderSimulator
    ) -> None:
        """A reader that NAKed a sale reads online again, with no cashier message, once it ACKs a ping."""
        reader = _reader(devices)
        card.rules.mode = "nak"
        with pytest.raises(ProtocolError):
            await reader.authorize(100, "JPY", "sale-nak")
        card.rules.mode = "normal"
        pings = card.pings
        await wait_until(lambda: card.pings > pings)
        await wait_until(lambda: devices.manager.health()["card_reader"].state == "online")
        assert devices.manager.health()["card_reader"].cashier_message is None
        assert (await reader.authorize(100, "JPY", "sale-ok")).status == "approved"


class TestIdleReaderPing:
    @pytest.fixture
    async def pinged(self, tmp_path: Path, card: CardReaderSimulator) -> AsyncIterator[Devices]:
        async for d in _devices(tmp_path, card, ping_s=0.05):
            yield d

    async def test_a_reader_that_goes_silent_while_idle_is_reported(
        self, pinged: Devices, card: CardReaderSimulator
    ) -> None:
        """An idle reader that stops answering pings goes offline (after the debounce) with a message."""
        await wait_until(lambda: card.pings >= 2)
        assert pinged.manager.health()["card_reader"].state == "online"
        card.rules.mode = "silent"
        await wait_until(lambda: pinged.manager.health()["card_reader"].state == "offline", within=15)
        health = pinged.manager.health()["card_reader"]
        assert health.cashier_message and "DeviceTimeout" in (health.last_error or "")

    async def test_online_only_after_the_first_ping(self, pinged: Devices, card: CardReaderSimulator) -> None:
        """A reader whose port opens but that NAKs from the start never reads online."""
        card.rules.mode = "nak"
        await wait_until(lambda: card.naks_sent >= 2 * (RETRIES + 1))
        assert pinged.manager.health()["card_reader"].state != "online"
