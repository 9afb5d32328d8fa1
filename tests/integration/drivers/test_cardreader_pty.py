"""Card reader driver against the simulator over a real pty: approvals, declines and every fault."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.cardreader.frame import encode_frame
from drivers.cardreader.reader import CardReader
from drivers.errors import DeviceDisconnected, DeviceTimeout, ProtocolError
from drivers.simulators.cardreader import CardReaderSimulator, CardRules
from drivers.transport.serial import SerialTransport


@pytest.fixture
async def sim(tmp_path: Path) -> CardReaderSimulator:
    s = CardReaderSimulator(CardRules(decline_over=50_000, present_delay=0.01))
    s.start_pty(tmp_path / "reader")
    yield s  # type: ignore[misc]
    await s.stop()


@pytest.fixture
async def reader(sim: CardReaderSimulator) -> CardReader:
    port = SerialTransport(sim.path)
    await port.open()
    yield CardReader(port, ack_timeout=0.2, retries=2, result_timeout=2.0, cancel_grace=0.5)  # type: ignore[misc]
    await port.close()


class TestCardReader:
    async def test_approved(self, reader: CardReader, sim: CardReaderSimulator) -> None:
        """An approved sale returns approval code, brand, last 4 and entry method."""
        result = await reader.authorize(1200, "JPY", "S-1")
        assert (result.status, result.card_brand, result.card_last_4, result.entry_method) == (
            "approved",
            "VISA",
            "4242",
            "contactless",
        )
        assert result.approval_code and sim.sales[0].amount == 1200

    async def test_declined_by_rule(self, reader: CardReader) -> None:
        """An amount over the simulator's limit is declined with its reason."""
        result = await reader.authorize(60_000, "JPY", "S-2")
        assert result.status == "declined" and result.decline_reason == "limit_exceeded"

    async def test_lost_ack_repeats_request_but_charges_once(
        self, reader: CardReader, sim: CardReaderSimulator
    ) -> None:
        """When the reader's ACK is lost the host repeats the sale; the reader still runs it only once."""
        sim.rules.lose_acks = 1
        result = await reader.authorize(900, "JPY", "S-10")
        assert result.status == "approved" and len(sim.sales) == 1

    async def test_naks_forever(self, reader: CardReader, sim: CardReaderSimulator) -> None:
        """A reader that NAKs every frame ends in ProtocolError after the retries; nothing was started."""
        sim.rules.mode = "nak"
        with pytest.raises(ProtocolError) as info:
            await reader.authorize(100, "JPY", "S-3")
        assert sim.sales == [] and not info.value.outcome_unknown

    async def test_silent_reader(self, reader: CardReader, sim: CardReaderSimulator) -> None:
        """A reader that never ACKs ends in DeviceTimeout."""
        sim.rules.mode = "silent"
        with pytest.raises(DeviceTimeout):
            await reader.authorize(100, "JPY", "S-4")

    async def test_no_card_presented_times_out_declined(
        self, reader: CardReader, sim: CardReaderSimulator
    ) -> None:
        """No card in time: the host cancels, the reader confirms, the sale is declined 'timeout'."""
        sim.rules.mode = "timeout"
        result = await reader.authorize(100, "JPY", "S-5")
        assert result.status == "declined" and result.decline_reason == "timeout" and sim.cancels == 1

    async def test_cashier_cancel(self, reader: CardReader, sim: CardReaderSimulator) -> None:
        """cancel() during a sale ends it declined 'cancelled'."""
        sim.rules.mode = "timeout"
        sale = asyncio.get_running_loop().create_task(reader.authorize(100, "JPY", "S-6"))
        await asyncio.sleep(0.2)
        await reader.cancel()
        result = await sale
        assert result.decline_reason == "cancelled"

    async def test_garbage_instead_of_result(self, reader: CardReader, sim: CardReaderSimulator) -> None:
        """Random bytes instead of a result never approve: the sale ends declined after the cancel."""
        sim.rules.mode = "garbage"
        result = await reader.authorize(100, "JPY", "S-7")
        assert result.status == "declined"
        sim.rules.mode = "normal"
        assert (await reader.authorize(100, "JPY", "S-8")).status == "approved"

    async def test_unplug_mid_sale(self, reader: CardReader, sim: CardReaderSimulator) -> None:
        """The reader vanishing during a sale raises DeviceDisconnected."""
        sim.rules.mode = "timeout"
        sale = asyncio.get_running_loop().create_task(reader.authorize(100, "JPY", "S-9"))
        await asyncio.sleep(0.2)
        sim.unplug()
        with pytest.raises(DeviceDisconnected) as info:
            await sale
        assert info.value.outcome_unknown  # accepted by the reader before it vanished

    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(junk=st.binary(min_size=1, max_size=80), split=st.integers(0, 20))
    async def test_junk_and_half_frames_before_result(
        self, reader: CardReader, sim: CardReaderSimulator, junk: bytes, split: int
    ) -> None:
        """Random bytes and a half frame before the reader's answer still end in the right result."""
        sim.rules.mode = "normal"
        sim.send(junk + encode_frame(b'{"t":"result","id":"old"}')[:split])
        result = await reader.authorize(100, "JPY", f"H-{len(sim.sales)}")
        assert result.status == "approved"
