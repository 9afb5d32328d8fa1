"""Refunds in the outbox on a real SQLite file, sent to the reference stand-in cloud (sync.testing), which
knows sales only: sales and refunds go out FIFO by their shared seq in one batch; the stand-in rejects the
refund item, which is then quarantined with the cloud's error and listed for the manager as a refund."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any

import pytest

from agent.adapters.store import Store
from agent.adapters.store.outbox import SqliteOutbox
from agent.adapters.store.refunds import Refunds
from agent.domain.refund import NewRefund
from agent.domain.sale import NewSale
from agent.settings import OfflineSection
from sync.uploader import Uploader, UploaderConfig
from sync.wire import GENESIS_HASH, item_hash
from tests.integration.agent.sync_fixtures import DEVICE, CloudUnderTest, make_client, reference_cloud  # noqa: F401

CAPS = OfflineSection(max_sale_amount=50_000, max_total_amount=100_000, max_count=100, max_age_hours=24)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "agent.sqlite3", CAPS)
    yield opened
    await opened.close()


class TestRefundItems:
    async def test_fifo_then_rejected_refund_is_quarantined(
        self, store: Store, reference_cloud: CloudUnderTest,  # noqa: F811
    ) -> None:
        """sale (1), refund (2), sale (3) are claimed in seq order; the refund comes back rejected and is
        listed in the sync status as a refund with the cloud's error; the sales are acked."""
        refunds = Refunds(store.database, store.chain, CAPS)
        sale = (await store.record(NewSale("r-1", 1000, "JPY", "cash", "succeeded"))).sale
        refund = (await refunds.record(NewRefund("0190a0b0-0000-7000-8000-000000000001", sale.local_id, 400,
                                                 "damaged", "IT-1-R-1"))).refund
        later = (await store.record(NewSale("r-2", 500, "JPY", "cash", "succeeded"))).sale
        assert (sale.seq, refund.seq, later.seq) == (1, 2, 3)
        outbox = SqliteOutbox(store.database, DEVICE.device_id)
        claimed = await outbox.claim(10, 1 << 20)
        assert [(it.seq, it.local_id) for it in claimed] == [(1, sale.local_id), (2, refund.local_id),
                                                             (3, later.local_id)]
        await outbox.reset_sending()
        client = make_client(reference_cloud.url)
        result = await Uploader(outbox, client, DEVICE.device_id, UploaderConfig()).drain()
        await client.close()
        assert (result.acked, result.rejected, result.pending) == (2, 1, 0)
        status = await outbox.status()
        assert status["quarantined_count"] == 1
        (shown,) = status["quarantined"]
        assert (shown["kind"], shown["local_id"], shown["amount"]) == ("refund", refund.local_id, 400)
        assert shown["error"]["code"] == "invalid_item"
        stored = await refunds.get(refund.local_id)
        assert stored is not None and stored.sync_state == "rejected"
        assert json.loads(str(stored.sync_error))["code"] == "invalid_item"
        # A rejected refund no longer holds the sale's remaining amount: 1000 may be refunded again.
        again = await refunds.record(NewRefund("0190a0b0-0000-7000-8000-000000000002", sale.local_id, 1000,
                                               None, "IT-1-R-2"))
        assert (again.created, again.refund.seq) == (True, 4)


class TestOneChain:
    async def test_interleaved_sales_and_refunds_in_one_batch(self, store: Store) -> None:
        """Sales and refunds submitted at once (one writer batch, several runs of each kind) get gap-free
        seqs and one valid hash chain across both tables."""
        refunds = Refunds(store.database, store.chain, CAPS)
        first = (await store.record(NewSale("c-0", 5000, "JPY", "cash", "succeeded"))).sale
        jobs: list[Coroutine[Any, Any, object]] = []
        for n in range(1, 9):
            jobs.append(store.record(NewSale(f"c-{n}", 100 + n, "JPY", "cash", "succeeded")))
            jobs.append(refunds.record(NewRefund(f"0190a0b0-0000-7000-8000-00000000010{n}", first.local_id,
                                                 10, None, f"IT-1-R-1{n}")))
        await asyncio.gather(*jobs)
        assert store.database.writer.batches <= 3  # they shared batches: the runs interleaved
        rows = await store.database.fetch_all(
            "SELECT seq, prev_hash, hash, item_json FROM sales UNION ALL "
            "SELECT seq, prev_hash, hash, item_json FROM refunds ORDER BY seq")
        assert [r[0] for r in rows] == list(range(1, 18))
        prev = GENESIS_HASH
        for seq, prev_hash, hashed, item_json in rows:
            assert prev_hash == prev and item_hash(prev_hash, json.loads(item_json)) == hashed, seq
            prev = hashed
