"""Canonical JSON and hash chain of docs/sync-protocol.md."""

import hashlib

from sync import wire


class TestWire:
    def test_canonical_json_sorted_compact_utf8(self) -> None:
        """Keys sorted, no spaces, non-ASCII kept as UTF-8."""
        assert wire.canonical_json({"b": 1, "a": "円"}) == '{"a":"円","b":1}'.encode()

    def test_item_hash_excludes_hash_field(self) -> None:
        """The hash covers prev_hash + the item without its own hash field."""
        item = {"seq": 1, "local_id": "x", "hash": "ignored"}
        want = hashlib.sha256((wire.GENESIS_HASH + '{"local_id":"x","seq":1}').encode()).hexdigest()
        assert wire.item_hash(wire.GENESIS_HASH, item) == want
