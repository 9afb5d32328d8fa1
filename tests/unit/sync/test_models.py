"""Batch models and building: the docs/sync-protocol.md shapes, per-item validation, limits."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from sync.batch import OutboxItem, encode_batch, fit_count, item_wire_bytes
from sync.models import ItemError, SyncBatch, SyncItem, hash_matches, raw_local_id, validate_item
from sync.wire import MAX_BATCH_BYTES, MAX_BATCH_ITEMS
from tests.unit.sync.fakes import make_items


class TestModels:
    def test_wire_item_validates_and_its_hash_matches(self) -> None:
        """An item built from stored bytes plus its hash is a valid SyncItem with a matching hash."""
        raw = json.loads(item_wire_bytes(make_items(1)[0]))
        assert isinstance(validate_item(raw), SyncItem)
        assert hash_matches(raw)

    def test_tampered_item_hash_mismatch(self) -> None:
        """Changing the amount after hashing breaks the chain check."""
        raw = json.loads(item_wire_bytes(make_items(1)[0]))
        raw["intent"]["amount"] += 1
        assert not hash_matches(raw)

    def test_malformed_item_gives_an_error_with_param(self) -> None:
        """A negative amount yields an ItemError naming the field, never an exception."""
        raw = json.loads(item_wire_bytes(make_items(1)[0]))
        raw["intent"]["amount"] = -5
        err = validate_item(raw)
        assert isinstance(err, ItemError) and err.param == "intent.amount"

    def test_non_final_status_rejected(self) -> None:
        """Items carry final states only."""
        raw = json.loads(item_wire_bytes(make_items(1)[0]))
        raw["intent"]["status"] = "processing"
        assert isinstance(validate_item(raw), ItemError)

    def test_raw_local_id_of_garbage(self) -> None:
        """A non-object item still gets a result row (empty local_id)."""
        assert raw_local_id(42) == "" and raw_local_id({"local_id": "x"}) == "x"


class TestBatch:
    def test_encoded_batch_is_a_valid_sync_batch(self) -> None:
        """The spliced body parses as the full SyncBatch model."""
        items = make_items(3)
        body = encode_batch("01HZ", "dev", 123, [item_wire_bytes(i) for i in items])
        batch = SyncBatch.model_validate_json(body)
        assert [i.local_id for i in batch.items] == [i.local_id for i in items]

    def test_fit_count_caps_items(self) -> None:
        """Never more than 500 items per batch."""
        assert fit_count([10] * 2000, "dev") == MAX_BATCH_ITEMS

    def test_fit_count_caps_bytes(self) -> None:
        """Items are cut before the encoded body would pass 1 MiB."""
        n = fit_count([300_000] * 10, "dev")
        assert n == 3 and MAX_BATCH_BYTES > 3 * 300_001

    def test_oversized_single_item_still_goes_alone(self) -> None:
        """One item larger than the limit is sent alone (the cloud's 413 then quarantines it)."""
        assert fit_count([2 * MAX_BATCH_BYTES, 10], "dev") == 1


class TestBatchLimitsProperty:
    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.integers(0, 3000), min_size=1, max_size=1200),
           st.lists(st.integers(200_000, 1_100_000), max_size=4), st.integers(0, 1200))
    def test_batches_cover_all_items_in_order_within_limits(self, small: list[int], giants: list[int],
                                                            at: int) -> None:
        """Cutting any queue with fit_count gives FIFO batches of ≤ 500 items, ≤ 1 MiB (lone giants aside)."""
        pads = small[:at] + giants + small[at:]  # bounded memory: at most 4 big items
        items = [OutboxItem(f"L{i}", i + 1, f'{{"local_id":"L{i}","p":"{"x" * pad}"}}'.encode(), "0" * 64)
                 for i, pad in enumerate(pads)]
        sent: list[str] = []
        while len(sent) < len(items):
            rest = items[len(sent):]
            wire = [item_wire_bytes(it) for it in rest[:MAX_BATCH_ITEMS]]
            n = fit_count((len(w) for w in wire), "dev_1")
            body = encode_batch("01HZZZZZZZZZZZZZZZZZZZZZZZ", "dev_1", 1_700_000_000_000, wire[:n])
            assert 1 <= n <= MAX_BATCH_ITEMS
            assert len(body) <= MAX_BATCH_BYTES or n == 1
            sent.extend(json.loads(body)["items"][i]["local_id"] for i in range(n))
        assert sent == [it.local_id for it in items]
