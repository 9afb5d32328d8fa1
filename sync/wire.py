"""Canonical JSON and the per-device hash chain of docs/sync-protocol.md (pure, no I/O)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

GENESIS_HASH = "0" * 64
MAX_BATCH_ITEMS = 500
MAX_BATCH_BYTES = 1024 * 1024


def canonical_json(value: Any) -> bytes:
    """Keys sorted, separators ',' and ':', UTF-8, no ASCII escaping."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def item_hash(prev_hash: str, item: Mapping[str, Any]) -> str:
    """hex sha256(ASCII prev_hash + canonical JSON of the item without its `hash` field)."""
    body = {k: v for k, v in item.items() if k != "hash"}
    return hashlib.sha256(prev_hash.encode("ascii") + canonical_json(body)).hexdigest()
