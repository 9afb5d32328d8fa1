"""The refund writer job on a real SQLite file: itemised refunds of one sale submitted together are decided in
one batch, each seeing the lines the earlier ones of the batch returned, and the stored lines count after the
database is opened again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.adapters.store import Store
from agent.adapters.store.refunds import Refunds
from agent.domain.invoice import Item
from agent.domain.receipt import stored_receipt
from agent.domain.refund import NewRefund, RecordedRefund, RefundRefused, ReturnedLine
from agent.domain.sale import NewSale
from agent.settings import OfflineSection

CAPS = OfflineSection(max_sale_amount=50_000, max_total_amount=100_000, max_count=100, max_age_hours=24)
ITEMS = [Item("おにぎり", 150, 2, 8), Item("ビール", 288, 3, 10)]


def one(n: int, line: int, quantity: int, sale_local_id: str) -> NewRefund:
    """A refund returning `quantity` of `line`, with its amount from the sale's unit price."""
    local_id = f"0190a0b0-0000-7000-8000-{n:012d}"
    amount = ITEMS[line].unit_price * quantity
    return NewRefund(
        local_id, sale_local_id, amount, None, f"IT-R-{n}", items=(ReturnedLine(line, quantity),)
    )


class Opened:
    """The agent store over one file; `reopen()` closes it and opens it again; closed at the end."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.store: Store | None = None

    async def open(self) -> Store:
        self.store = await Store.open(self.path, CAPS)
        return self.store

    async def reopen(self) -> Store:
        assert self.store is not None
        await self.store.close()
        self.store = None
        return await self.open()


@pytest.fixture
async def opened(tmp_path: Path) -> AsyncIterator[Opened]:
    found = Opened(tmp_path / "agent.sqlite3")
    await found.open()
    try:
        yield found
    finally:
        if found.store is not None:
            await found.store.close()


class TestRefundWriterLines:
    async def test_one_batch_cannot_pass_a_line(self, opened: Opened) -> None:
        """Three returns of one rice ball (two sold) in one batch: two stored, the third refused; after a
        reopen the line is spent and the beers are not."""
        store = opened.store
        assert store is not None
        sale = NewSale("s-1", 1164, "JPY", "cash", "succeeded", receipt=stored_receipt(ITEMS, (), 0))
        local_id = (await store.record(sale)).sale.local_id
        refunds = Refunds(store.database, store.chain, CAPS)
        outcomes = await asyncio.gather(
            *(refunds.record(one(n, 0, 1, local_id)) for n in range(3)), return_exceptions=True
        )
        assert [type(o) for o in outcomes].count(RecordedRefund) == 2
        (refused,) = [o for o in outcomes if isinstance(o, RefundRefused)]
        assert refused.code == "refund_exceeds_sold"
        store = await opened.reopen()
        sale_now = await Refunds(store.database, store.chain, CAPS).sale(local_id)
        assert sale_now is not None
        assert (sale_now.refunded, dict(sale_now.returned), sale_now.items) == (300, {0: 2}, tuple(ITEMS))
