"""The intake's speed tricks change nothing: the orjson hash check decides as sync.wire.item_hash does, and
the bulk ids are valid, distinct, ascending ULIDs."""

from __future__ import annotations

import sys
import time
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ulid import ULID

from cloud.infrastructure.speed import fresh_ids, item_hash_ok
from sync.models import SyncItem, hash_matches, validate_item
from sync.wire import canonical_json, item_hash

_text = st.text(max_size=6)
_leaf = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | _text
_json = st.recursive(
    _leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3), max_leaves=6
)


def _item(result: dict[str, Any], metadata: dict[str, Any], *, tamper: bool = False) -> dict[str, Any]:
    intent = {"amount": 100, "currency": "JPY", "processing_mode": "manual", "payment_method_type": "cash",
              "merchant_ref_id": "ref-1", "status": "succeeded", "result": result, "metadata": metadata}
    item: dict[str, Any] = {"local_id": "loc-1", "seq": 7, "created_at": 1_700_000_000_000,
                            "prev_hash": "ab" * 32, "intent": intent}  # fmt: skip
    item["hash"] = item_hash(item["prev_hash"], item)
    if tamper:
        item["intent"]["metadata"] = {**metadata, "x": 1}
    return item


def _check(raw: dict[str, Any]) -> bool:
    validated = validate_item(raw)
    assert isinstance(validated, SyncItem)
    return item_hash_ok(raw, validated)


@settings(max_examples=400, deadline=None)
@given(result=st.dictionaries(_text, _json, max_size=3), metadata=st.dictionaries(_text, _json, max_size=3),
       tamper=st.booleans())  # fmt: skip
def test_same_verdict_as_stdlib(result: dict[str, Any], metadata: dict[str, Any], tamper: bool) -> None:
    """Any free-form result/metadata (floats, big ints, any Unicode): the verdict equals hash_matches'."""
    raw = _item(result, metadata, tamper=tamper)
    assert _check(raw) is hash_matches(raw) is (not tamper)


def test_float_where_orjson_formats_differently_is_still_accepted() -> None:
    """1e-07: orjson writes 1e-7, the definition writes 1e-07; a correct hash is still accepted."""
    assert orjson.dumps(1e-07) != canonical_json(1e-07)
    assert _check(_item({"rate": 1e-07}, {}))


def test_every_unicode_scalar_value_hashes_alike() -> None:
    """Metadata holding every code point outside the surrogates: accepted (orjson path), tampering refused."""
    chars = "".join(chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF)
    metadata = {chars[i : i + 2000][:50]: chars[i : i + 2000] for i in range(0, len(chars), 2000)}
    assert _check(_item({}, metadata))
    assert not _check(_item({}, metadata, tamper=True))


class TestFreshIds:
    def test_ids_are_valid_distinct_ulids_of_now(self) -> None:
        """Every id parses as a ULID carrying the given millisecond, and none repeats."""
        now = time.time()
        ids = fresh_ids(2000, now)
        assert len(set(ids)) == 2000
        for value in ids[:100]:
            parsed = ULID.from_str(value)
            assert str(parsed) == value and int(parsed.timestamp * 1000) == int(now * 1000)

    def test_ids_ascend_and_batches_of_one_millisecond_differ(self) -> None:
        """Ids come out in ascending order; two calls for the same millisecond share no id."""
        now = time.time()
        first, second = fresh_ids(2000, now), fresh_ids(2000, now)
        assert first == sorted(first) and not set(first) & set(second)
        with pytest.raises(ValueError, match="at most"):
            fresh_ids(40_000, now)
