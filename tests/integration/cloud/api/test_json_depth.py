"""Deeply nested JSON on every body the cloud parses: a 4xx naming the field, never a 500 (real server)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cloud.testing import PgwClient, Tenant

from ..conftest import Pgw
from ..helpers import create, intent_body
from ..sync.helpers import BATCHES, Chain, device_client, enroll

DEPTHS = (325, 1_000, 100_000)


def nested(depth: int) -> bytes:
    """A JSON value `depth` levels deep, alternating lists and objects."""
    opens = b"".join(b"[" if n % 2 else b'{"k":' for n in range(depth))
    closes = b"".join(b"]" if n % 2 else b"}" for n in reversed(range(depth)))
    return opens + b"1" + closes


def with_value(body: dict[str, Any], marker: str, depth: int) -> bytes:
    """`body` as JSON with the string `marker` replaced by a `depth`-deep value."""
    return json.dumps(body).encode().replace(json.dumps(marker).encode(), nested(depth))


class TestIntentBodies:
    @pytest.mark.parametrize("depth", DEPTHS)
    async def test_create_metadata(self, pgw: Pgw, client: PgwClient, depth: int) -> None:
        """Deep create metadata: 400 nesting_too_deep naming `metadata` (413 when past the 64 KiB limit)."""
        raw = with_value(intent_body(metadata="@deep"), "@deep", depth)
        resp = await client.post("/v1/payment_intents", raw=raw)
        if len(raw) > 64 * 1024:
            assert (resp.status, resp.body["error"]["code"]) == (413, "body_too_large")
            return
        assert (resp.status, resp.body["error"]["code"]) == (400, "nesting_too_deep"), resp.body
        assert resp.body["error"]["param"] == "metadata"

    @pytest.mark.parametrize("route", ["confirm", "cancel", "capture", "sync"])
    async def test_other_bodies(self, pgw: Pgw, client: PgwClient, route: str) -> None:
        """confirm / cancel / capture / sync bodies nested 1,000 levels: 400 naming the top field."""
        pi = await create(client)
        raw = with_value({"card_result": "@deep"}, "@deep", 1_000)
        resp = await client.post(f"/v1/payment_intents/{pi['id']}/{route}", raw=raw)
        assert (resp.status, resp.body["error"]["param"]) == (400, "card_result"), resp.body

    async def test_a_token_body_too(self, pgw: Pgw, client: PgwClient) -> None:
        """A payment_token confirm with a 100,000-deep body (no HMAC) is a 4xx, not a 500."""
        pi = await client.post("/v1/payment_intents", intent_body("cash"))
        raw = b'{"payment_token":"' + pi.body["payment_token"].encode() + b'","x":' + nested(100_000) + b"}"
        resp = await client.post(f"/v1/payment_intents/{pi.body['id']}/confirm", raw=raw, signed=False)
        assert 400 <= resp.status < 500, resp.body

    async def test_shallow_bodies_still_work(self, pgw: Pgw, client: PgwClient) -> None:
        """Nesting within the bound is judged by the model as before (a nested metadata value is a 422)."""
        resp = await client.post("/v1/payment_intents", raw=with_value(intent_body(metadata="@d"), "@d", 20))
        assert (resp.status, resp.body["error"]["code"]) == (422, "invalid_parameter")


class TestSyncItems:
    @pytest.fixture
    async def device(self, pgw: Pgw, tenant: Tenant) -> tuple[PgwClient, Chain]:
        """An enrolled device and its chain."""
        keys = await enroll(pgw, tenant)
        return device_client(pgw, keys), Chain(keys.device_id)

    @pytest.mark.parametrize("depth", DEPTHS)
    @pytest.mark.parametrize("where", ["metadata", "result"])
    async def test_deep_item_field(self, pgw: Pgw, device: tuple[PgwClient, Chain], depth: int,
                                   where: str) -> None:  # fmt: skip
        """A sync item whose metadata / result nests deeply: 400 nesting_too_deep naming the item's field,
        and nothing stored."""
        dev, chain = device
        good = chain.add()
        bad = chain.add()
        bad["intent"][where] = "@deep"
        raw = with_value(chain.batch([good, bad]), "@deep", depth)
        resp = await dev.post(BATCHES, raw=raw)
        assert (resp.status, resp.body["error"]["code"]) == (400, "nesting_too_deep"), resp.body
        assert resp.body["error"]["param"] == f"items.1.intent.{where}"
        again = await dev.post(BATCHES, chain.batch([good]))
        assert [r["status"] for r in again.body["results"]] == ["accepted"]

    async def test_deep_unknown_field_of_an_item(self, pgw: Pgw, device: tuple[PgwClient, Chain]) -> None:
        """Deep nesting in a field the item should not have at all is refused the same way."""
        dev, chain = device
        item = {**chain.add(), "extra": "@deep"}
        resp = await dev.post(BATCHES, raw=with_value(chain.batch([item]), "@deep", 325))
        assert (resp.status, resp.body["error"]["param"]) == (400, "items.0.extra")
