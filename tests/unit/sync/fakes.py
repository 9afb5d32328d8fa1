"""Fakes for unit tests: the uploader's Protocols (Outbox, BatchSender) in memory, and a dead loopback URL."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from sync.batch import OutboxItem, fit_count
from sync.errors import SyncError
from sync.models import BatchResponse, ItemError, ItemResult
from sync.results import ItemOutcome
from sync.wire import GENESIS_HASH, canonical_json, item_hash


def make_items(n: int, start: int = 1) -> list[OutboxItem]:
    """n hash-chained items as the agent stores them."""
    items, prev = [], GENESIS_HASH
    for seq in range(start, start + n):
        body = {"local_id": f"L{seq:06d}", "seq": seq, "created_at": 1_700_000_000_000 + seq,
                "prev_hash": prev,
                "intent": {"amount": 100 + seq, "currency": "JPY", "processing_mode": "manual",
                           "payment_method_type": "cash", "merchant_ref_id": f"ref-{seq}",
                           "status": "succeeded", "result": {}, "metadata": {}}}
        digest = item_hash(prev, body)
        items.append(OutboxItem(f"L{seq:06d}", seq, canonical_json(body), digest, 100 + seq, "JPY"))
        prev = digest
    return items


@dataclass
class MemoryOutbox:
    """The Outbox Protocol over a dict: state per local_id, FIFO by seq."""

    items: list[OutboxItem]
    state: dict[str, str] = field(default_factory=dict)
    intent: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    last_error: str | None = None
    clock_offset: int | None = None

    def __post_init__(self) -> None:
        for it in self.items:
            self.state.setdefault(it.local_id, "queued")

    def in_state(self, state: str) -> list[str]:
        return [it.local_id for it in self.items if self.state[it.local_id] == state]

    async def reset_sending(self) -> int:
        sending = self.in_state("sending")
        for lid in sending:
            self.state[lid] = "queued"
        return len(sending)

    async def claim(self, max_items: int, max_bytes: int) -> list[OutboxItem]:
        queued = [it for it in self.items if self.state[it.local_id] == "queued"][:max_items]
        queued = queued[:fit_count((len(it.item_json) + 76 for it in queued), "dev", max_items, max_bytes)]
        for it in queued:
            self.state[it.local_id] = "sending"
        return queued

    async def release(self, local_ids: Sequence[str], error: str, *, connected: bool) -> None:
        for lid in local_ids:
            if self.state[lid] == "sending":
                self.state[lid] = "queued"
        self.last_error = error

    async def apply_results(self, outcomes: Sequence[ItemOutcome], release: Sequence[str],
                            server_time: int | None, sent_at: int) -> None:
        for o in outcomes:
            if self.state[o.local_id] == "acked":
                continue  # an ack is final, as in the agent's SqliteOutbox
            self.state[o.local_id] = o.state
            if o.cloud_intent_id:
                self.intent[o.local_id] = o.cloud_intent_id
            if o.error:
                self.errors[o.local_id] = o.error
        for lid in release:
            self.state[lid] = "queued"
        if server_time is not None:
            self.clock_offset = server_time - sent_at

    async def pending_count(self) -> int:
        return len(self.in_state("queued")) + len(self.in_state("sending"))


@dataclass
class ScriptedSender:
    """A BatchSender that answers each body from a script: an exception to raise, or a per-item verdict."""

    script: list[SyncError | None] = field(default_factory=list)
    reject: set[str] = field(default_factory=set)
    seen: dict[str, str] = field(default_factory=dict)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    drop_results_for: set[str] = field(default_factory=set)
    no_intent_for: set[str] = field(default_factory=set)  # answered accepted/duplicate, but without a pi id
    extra_results: list[ItemResult] = field(default_factory=list)  # appended to the next answer

    async def send(self, body: bytes) -> BatchResponse:
        batch = json.loads(body)
        self.bodies.append(batch)
        step = self.script.pop(0) if self.script else None
        if step is not None:
            raise step
        results = []
        for item in batch["items"]:
            lid = item["local_id"]
            if lid in self.drop_results_for:
                continue
            if lid in self.reject:
                results.append(ItemResult(local_id=lid, status="rejected",
                                          error=ItemError(code="invalid_item", message="bad")))
            elif lid in self.seen:
                results.append(ItemResult(local_id=lid, status="duplicate", payment_intent_id=self.seen[lid]))
            else:
                self.seen[lid] = f"pi_{lid}"
                results.append(ItemResult(local_id=lid, status="accepted", payment_intent_id=self.seen[lid]))
            if lid in self.no_intent_for:
                results[-1] = results[-1].model_copy(update={"payment_intent_id": None})
        results.extend(self.extra_results)
        self.extra_results = []
        return BatchResponse(batch_id=batch["batch_id"], server_time=batch["sent_at"] + 1500, results=results)


async def dead_url() -> str:
    """The URL of a loopback port that was just listening and no longer is (connection refused)."""
    server = TestServer(web.Application(), host="127.0.0.1", port=0)
    await server.start_server()
    url = str(server.make_url(""))
    await server.close()
    return url
