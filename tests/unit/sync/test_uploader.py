"""Uploader: sync_once and the monitor loop against fakes implementing the same Protocols."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from sync.batch import OutboxItem
from sync.errors import BatchRejected, TransientUploadError
from sync.models import ItemError, ItemResult, SyncBatch
from sync.results import SyncResult
from sync.uploader import Uploader, UploaderConfig
from tests.unit.sync.fakes import MemoryOutbox, ScriptedSender, make_items


def _items(body: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = body["items"]
    return items


FAST = UploaderConfig(interval=3600, backoff_base=0.001, backoff_cap=0.01)


def _uploader(outbox: MemoryOutbox, sender: ScriptedSender, config: UploaderConfig = FAST) -> Uploader:
    return Uploader(outbox, sender, "dev", config, clock=lambda: 1_700_000_000.0)


class TestSyncOnce:
    async def test_nothing_to_do_is_a_result(self) -> None:
        """An empty queue returns an all-zero SyncResult and sends nothing."""
        sender = ScriptedSender()
        assert await _uploader(MemoryOutbox([]), sender).sync_once() == SyncResult()
        assert sender.bodies == []

    async def test_oldest_first_bounded_batch(self) -> None:
        """One pass sends the oldest items up to max_items, acks them, and reports the rest pending."""
        outbox, sender = MemoryOutbox(make_items(7)), ScriptedSender()
        up = _uploader(outbox, sender, UploaderConfig(max_items=3))
        result = await up.sync_once()
        assert result == SyncResult(sent=3, acked=3, pending=4)
        assert [i["seq"] for i in _items(sender.bodies[0])] == [1, 2, 3]
        assert outbox.in_state("acked") == ["L000001", "L000002", "L000003"]
        assert outbox.intent["L000002"] == "pi_L000002"

    async def test_body_is_a_valid_signed_batch_shape(self) -> None:
        """The body validates as the docs/sync-protocol.md SyncBatch, hashes included."""
        sender = ScriptedSender()
        await _uploader(MemoryOutbox(make_items(3)), sender).sync_once()
        batch = SyncBatch.model_validate_json(json.dumps(sender.bodies[0]))
        assert batch.device_id == "dev" and batch.sent_at == 1_700_000_000_000
        assert batch.items[1].prev_hash == batch.items[0].hash

    async def test_rejected_item_is_quarantined_and_the_rest_flow(self) -> None:
        """A per-item rejection moves only that item to `rejected` with its error."""
        outbox, sender = MemoryOutbox(make_items(5)), ScriptedSender(reject={"L000003"})
        result = await _uploader(outbox, sender).sync_once()
        assert result == SyncResult(sent=5, acked=4, rejected=1, pending=0)
        assert outbox.in_state("rejected") == ["L000003"]
        assert json.loads(outbox.errors["L000003"])["code"] == "invalid_item"

    async def test_duplicates_are_acked_and_counted(self) -> None:
        """A duplicate result acks the item with the cloud's existing intent id."""
        outbox = MemoryOutbox(make_items(2))
        sender = ScriptedSender(seen={"L000001": "pi_first"})
        result = await _uploader(outbox, sender).sync_once()
        assert result == SyncResult(sent=2, acked=2, duplicates=1)
        assert outbox.intent["L000001"] == "pi_first"

    async def test_transient_error_requeues_everything(self) -> None:
        """A network/5xx failure raises TransientUploadError and nothing is acked."""
        outbox = MemoryOutbox(make_items(4))
        sender = ScriptedSender(script=[TransientUploadError("down", status=503)])
        with pytest.raises(TransientUploadError):
            await _uploader(outbox, sender).sync_once()
        assert outbox.in_state("queued") == [f"L{i:06d}" for i in range(1, 5)]
        assert outbox.last_error == "down"

    async def test_item_without_result_is_not_acked(self) -> None:
        """The cursor moves only on a received result: an unanswered item goes back to queued."""
        outbox = MemoryOutbox(make_items(3))
        result = await _uploader(outbox, ScriptedSender(drop_results_for={"L000002"})).sync_once()
        assert result.acked == 2 and result.pending == 1
        assert outbox.in_state("queued") == ["L000002"]

    async def test_accepted_without_an_intent_id_is_not_acked(self) -> None:
        """An accepted or duplicate result without a payment_intent_id is not an acknowledgement: the item is
        re-queued and not counted as acked (docs/sync-protocol.md, agent item states)."""
        outbox = MemoryOutbox(make_items(3))
        sender = ScriptedSender(seen={"L000003": "pi_old"}, no_intent_for={"L000002", "L000003"})
        result = await _uploader(outbox, sender).sync_once()
        assert (result.acked, result.duplicates, result.pending) == (1, 0, 2)
        assert outbox.in_state("acked") == ["L000001"]
        assert outbox.in_state("queued") == ["L000002", "L000003"]
        assert "L000002" not in outbox.intent and "L000003" not in outbox.intent

    async def test_a_second_result_rejecting_an_acked_item_is_ignored(self) -> None:
        """Should one answer hold an `accepted` and then a `rejected` result for the same item, the ack
        stands: the cloud holds the sale, so it must not be quarantined."""
        outbox = MemoryOutbox(make_items(2))
        reject = ItemResult(local_id="L000001", status="rejected",
                            error=ItemError(code="merchant_ref_id_in_use", message="in use"))
        sender = ScriptedSender(extra_results=[reject])
        result = await _uploader(outbox, sender).sync_once()
        assert (result.acked, result.rejected) == (2, 0)
        assert outbox.in_state("acked") == ["L000001", "L000002"]
        assert outbox.intent["L000001"] == "pi_L000001"

    async def test_auth_failure_keeps_items_queued(self) -> None:
        """A 401 raises BatchRejected; items are not quarantined (the device, not the item, is at fault)."""
        outbox = MemoryOutbox(make_items(2))
        sender = ScriptedSender(script=[BatchRejected("bad sig", status=401, code="invalid_signature")])
        with pytest.raises(BatchRejected):
            await _uploader(outbox, sender).sync_once()
        assert outbox.in_state("queued") == ["L000001", "L000002"]

    async def test_413_halves_the_batch_until_the_poison_item_is_alone(self) -> None:
        """Whole-batch 413/400 shrinks the batch; a lone failing item is quarantined, the rest acked."""
        outbox = MemoryOutbox(make_items(8))
        script = [BatchRejected("too big", status=413, code="batch_too_large")] * 4
        sender = ScriptedSender(script=list(script))
        result = await _uploader(outbox, sender).drain(max_batches=50)
        assert [len(_items(b)) for b in sender.bodies[:4]] == [8, 4, 2, 1]
        assert outbox.in_state("rejected") == ["L000001"]
        assert len(outbox.in_state("acked")) == 7 and result.pending == 0

    async def test_corrupt_local_item_never_leaves_the_device(self) -> None:
        """An item whose stored JSON is not an object is quarantined locally; the others are sent."""
        items = make_items(3)
        items[1] = OutboxItem(items[1].local_id, 2, b"not json", items[1].hash)
        outbox, sender = MemoryOutbox(items), ScriptedSender()
        result = await _uploader(outbox, sender).drain()
        assert outbox.in_state("rejected") == ["L000002"]
        assert outbox.in_state("acked") == ["L000001", "L000003"] and result.pending == 0

    async def test_byte_limit_splits_batches(self) -> None:
        """Batches stay under max_bytes even when max_items would allow more."""
        outbox, sender = MemoryOutbox(make_items(10)), ScriptedSender()
        await _uploader(outbox, sender, UploaderConfig(max_bytes=2000)).drain()
        assert all(len(json.dumps(b, separators=(",", ":"))) <= 2000 for b in sender.bodies)
        assert len(sender.bodies) > 1 and len(outbox.in_state("acked")) == 10


class TestMonitor:
    async def _until(self, predicate: Callable[[], bool], limit: float = 5.0) -> None:
        async with asyncio.timeout(limit):
            while not predicate():  # noqa: ASYNC110 -- polls a fake's state; bounded by the timeout
                await asyncio.sleep(0.005)

    async def test_restart_resends_items_left_sending(self) -> None:
        """Items found in `sending` at start-up are re-queued and resent; the cloud's dedup acks them."""
        outbox = MemoryOutbox(make_items(3))
        outbox.state["L000001"] = outbox.state["L000002"] = "sending"
        sender = ScriptedSender(seen={"L000001": "pi_old"})
        task = asyncio.create_task(_uploader(outbox, sender).run())
        await self._until(lambda: len(outbox.in_state("acked")) == 3)
        task.cancel()
        assert outbox.intent["L000001"] == "pi_old"

    async def test_retries_on_timer_without_a_new_sale(self) -> None:
        """After failures the monitor retries by itself with backoff (no kick, no new write needed)."""
        outbox = MemoryOutbox(make_items(2))
        errors = [TransientUploadError("x"), TransientUploadError("y", retry_after=0.001)]
        sender = ScriptedSender(script=list(errors))
        task = asyncio.create_task(_uploader(outbox, sender).run())
        await self._until(lambda: len(outbox.in_state("acked")) == 2)
        task.cancel()
        assert len(sender.bodies) == 3

    async def test_kick_starts_a_pass_before_the_timer(self) -> None:
        """With an hour-long interval, a kick after a new sale sends it at once."""
        outbox, sender = MemoryOutbox([]), ScriptedSender()
        up = _uploader(outbox, sender)
        task = asyncio.create_task(up.run())
        await asyncio.sleep(0.02)
        outbox.items.extend(make_items(1))
        outbox.state["L000001"] = "queued"
        up.kick()
        await self._until(lambda: outbox.in_state("acked") == ["L000001"])
        task.cancel()

    async def test_backlog_drains_without_waiting_for_the_timer(self) -> None:
        """While passes send items and more are pending, the monitor loops straight on."""
        outbox, sender = MemoryOutbox(make_items(25)), ScriptedSender()
        up = _uploader(outbox, sender, UploaderConfig(interval=3600, max_items=5))
        task = asyncio.create_task(up.run())
        await self._until(lambda: len(outbox.in_state("acked")) == 25)
        task.cancel()
        assert len(sender.bodies) == 5

    async def test_state_reports_last_error_then_clears(self) -> None:
        """The in-memory state shows the last error while failing and clears it after a success."""
        outbox = MemoryOutbox(make_items(1))
        up = _uploader(outbox, ScriptedSender(script=[TransientUploadError("offline")]))
        with pytest.raises(TransientUploadError):
            await up.sync_once()
        assert up.state.last_error == "offline" and up.state.connected is False
        await up.sync_once()
        assert up.state.last_error is None and up.state.connected is True


class TestNoSpin:
    async def test_cloud_omitting_results_does_not_spin_the_monitor(self) -> None:
        """If the cloud answers 200 yet never lists an item, the monitor does one bounded pass, then waits."""
        outbox = MemoryOutbox(make_items(1))
        sender = ScriptedSender(drop_results_for={"L000001"})
        up = _uploader(outbox, sender, UploaderConfig(interval=3600, batches_per_pass=3))
        task = asyncio.create_task(up.run())
        await asyncio.sleep(0.2)
        task.cancel()
        assert len(sender.bodies) == 1 and outbox.in_state("queued") == ["L000001"]


class TestPartialPass:
    async def test_a_failing_pass_still_reports_what_got_through(self) -> None:
        """Batches acked before a failure stay acked and are visible in state.last_pass."""
        outbox = MemoryOutbox(make_items(6))
        sender = ScriptedSender(script=[None, TransientUploadError("down")])
        up = _uploader(outbox, sender, UploaderConfig(max_items=3))
        with pytest.raises(TransientUploadError):
            await up.drain()
        assert up.state.last_pass.acked == 3 and len(outbox.in_state("acked")) == 3
        assert outbox.in_state("queued") == ["L000004", "L000005", "L000006"]


class _OutboxFailingOnCancel(MemoryOutbox):
    """claim() blocks; when cancelled it raises a different error, as a storage layer unwinding may."""

    entered: asyncio.Event | None = None

    async def claim(self, max_items: int, max_bytes: int) -> list[OutboxItem]:
        assert self.entered is not None
        self.entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise RuntimeError("cannot rollback - no transaction is active") from None
        return []


class TestStop:
    async def test_cancel_stops_the_monitor_even_if_unwinding_raises(self) -> None:
        """Cancelling run() ends it even when the pass turns the cancellation into another error."""
        outbox = _OutboxFailingOnCancel(make_items(1))
        outbox.entered = asyncio.Event()
        up = _uploader(outbox, ScriptedSender(), UploaderConfig(interval=3600, backoff_cap=3600))
        task = asyncio.create_task(up.run())
        await asyncio.wait_for(outbox.entered.wait(), 5)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=5)
        assert done, "the monitor kept running after it was cancelled"
        assert task.cancelled() or isinstance(task.exception(), RuntimeError)
