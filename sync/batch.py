"""Batch building under the sync limits (≤ 500 items, ≤ 1 MiB encoded; docs/sync-protocol.md), pure.

The agent stores each item's canonical JSON without its hash (the exact hashed bytes), so an item's wire
form is those bytes with `"hash"` appended; the body is assembled by joining bytes, never re-encoding.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sync.wire import MAX_BATCH_BYTES, MAX_BATCH_ITEMS


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One queued sale as the uploader sees it."""

    local_id: str
    seq: int
    item_json: bytes
    hash: str
    amount: int = 0
    currency: str = "JPY"
    trace_context: str | None = None  # the traceparent of the sale's request: the batch span links to it


def item_wire_bytes(item: OutboxItem) -> bytes:
    """The item's JSON object with its `hash` field added (the body need not be canonical)."""
    body = item.item_json.strip()
    if len(body) < 2 or body[:1] != b"{" or body[-1:] != b"}":
        raise ValueError(f"item {item.local_id} has no JSON object stored")
    sep = b"," if body[1:-1].strip() else b""
    return body[:-1] + sep + b'"hash":"' + item.hash.encode("ascii") + b'"}'


def envelope_overhead(device_id: str) -> int:
    """Bytes of the envelope around the items, with room for any batch_id and sent_at we generate."""
    return len(encode_batch("0" * 26, device_id, 10**13, [])) + 8


def fit_count(sizes: Iterable[int], device_id: str, max_items: int = MAX_BATCH_ITEMS,
              max_bytes: int = MAX_BATCH_BYTES) -> int:
    """How many leading items (of the given wire sizes) fit one batch; at least 1 if any exist."""
    total, count = envelope_overhead(device_id), 0
    for size in sizes:
        if count >= max_items or (count and total + size + 1 > max_bytes):
            break
        total += size + 1
        count += 1
    return count


def encode_batch(batch_id: str, device_id: str, sent_at: int, wire_items: Sequence[bytes]) -> bytes:
    """The request body bytes: envelope JSON with the pre-encoded items spliced in."""
    head = json.dumps({"batch_id": batch_id, "device_id": device_id, "sent_at": sent_at},
                      separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return head[:-1] + b',"items":[' + b",".join(wire_items) + b"]}"
