"""A small fake of the payment cloud for the browser tests, served on loopback in the agent's thread.

It stands in for mpac-pgw at the network boundary so a browser test can see the agent *online*: sync
batches are answered per item (an item whose amount is REJECT_AMOUNT is rejected with a hostile-looking
message, to prove the status page shows cloud text as text), and QR MPM intents are created, confirmed with
a `qr_content`, and reported `succeeded` once the test marks them paid. It does not check HMAC signatures
(the real cloud's tests do); everything else the agent sends and parses is real.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from ulid import ULID

REJECT_AMOUNT = 4444
HOSTILE = "<img src=x onerror=alert(1)> amount not allowed"
CLOCK_AHEAD_MS = 1500


@dataclass
class FakeCloud:
    """State shared with the test thread (guarded by a lock)."""

    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    batches: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def pay_all(self) -> None:
        """The customer scanned and paid every open QR intent."""
        with self.lock:
            for intent in self.intents.values():
                intent["status"] = "succeeded"

    def app(self) -> web.Application:
        """The aiohttp app."""
        app = web.Application()
        app.router.add_post("/v1/sync/batches", self.sync_batch)
        app.router.add_post("/v1/payment_intents", self.create)
        app.router.add_post("/v1/payment_intents/{id}/confirm", self.confirm)
        app.router.add_get("/v1/payment_intents/{id}", self.retrieve)
        return app

    async def sync_batch(self, request: web.Request) -> web.Response:
        """Accept every item, except REJECT_AMOUNT ones, which are rejected with a hostile message."""
        batch = json.loads(await request.read())
        results = []
        for item in batch["items"]:
            if item["intent"]["amount"] == REJECT_AMOUNT:
                results.append({"local_id": item["local_id"], "status": "rejected",
                                "error": {"code": "amount_not_allowed", "message": HOSTILE}})
            else:
                results.append({"local_id": item["local_id"], "status": "accepted",
                                "payment_intent_id": f"pi_{ULID()}"})
        with self.lock:
            self.batches += 1
        return web.json_response({"batch_id": batch["batch_id"], "results": results,
                                  "server_time": int(time.time() * 1000) + CLOCK_AHEAD_MS})

    async def create(self, request: web.Request) -> web.Response:
        """Create an intent."""
        body = json.loads(await request.read())
        intent = {"id": f"pi_{ULID()}", "object": "payment_intent", "amount": body["amount"],
                  "currency": body["currency"], "status": "requires_payment_method",
                  "merchant_ref_id": body.get("merchant_ref_id")}
        with self.lock:
            self.intents[intent["id"]] = intent
        return web.json_response(intent, status=201)

    async def confirm(self, request: web.Request) -> web.Response:
        """Confirm: the provider issues a QR."""
        with self.lock:
            intent = self.intents[request.match_info["id"]]
            intent.update(status="requires_action", qr_content=f"https://qr.example.test/pay/{intent['id']}")
            return web.json_response(dict(intent))

    async def retrieve(self, request: web.Request) -> web.Response:
        """Read an intent's current state."""
        with self.lock:
            return web.json_response(dict(self.intents[request.match_info["id"]]))
