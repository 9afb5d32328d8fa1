"""Refunds on the real agent app over a real SQLite file (no cloud): cash and card refunds, full and partial,
chained on the sales' seq and hash chain and counted against the offline caps; every refusal leaves nothing
written; the store manager's PIN is the admin password with its lockout."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from agent.deps import Devices
from agent.entrypoints.api.keys import DEPS
from agent.entrypoints.web.admin import MAX_FAILURES
from sync.wire import GENESIS_HASH, item_hash
from tests.integration.agent.conftest import FakePrinter, MakeClient
from tests.integration.agent.entrypoints.web.test_admin_lockout import RIGHT, Clock, enroll

CASH: dict[str, Any] = {"amount": 1000, "payment_method": "cash", "cash_received": 1000}
CARD: dict[str, Any] = {"amount": 2500, "payment_method": "card", "card_result": {
    "status": "approved", "approval_code": "A1", "card_brand": "VISA", "card_last_4": "4242",
    "entry_method": "chip"}}


@pytest.fixture
async def agent(tmp_path: Path, make_client: MakeClient) -> TestClient[Any, Any]:
    """The agent app (enrolled, a fake printer, at most 6 items queued) over a SQLite file in tmp_path."""
    enroll(tmp_path)
    return await make_client({"offline": {"max_count": 6}}, devices=Devices(printer=FakePrinter()),
                             folder=tmp_path, clock_ms=Clock())


def rows(client: TestClient[Any, Any], sql: str) -> list[tuple[Any, ...]]:
    """A read of the agent's database file, from outside the agent."""
    with sqlite3.connect(client.app[DEPS].settings.agent.db_path) as conn:
        return list(conn.execute(sql))


async def sale(client: TestClient[Any, Any], body: dict[str, Any]) -> dict[str, Any]:
    resp = await client.post("/api/sales", json=body)
    found: dict[str, Any] = await resp.json()
    assert resp.status == 201, found
    return found


async def refund(client: TestClient[Any, Any], local_id: str, amount: int,
                 password: str = RIGHT, **extra: Any) -> tuple[int, dict[str, Any]]:
    resp = await client.post(f"/api/sales/{local_id}/refunds",
                             json={"amount": amount, "password": password, **extra})
    return resp.status, await resp.json()


class TestChainRefunds:
    async def test_partial_then_rest_then_refused(self, agent: TestClient[Any, Any]) -> None:
        """300 then 700 of a 1000 cash sale are chained after it (seq 2, 3, valid hashes); 1 more is 409."""
        s = await sale(agent, CASH)
        status, first = await refund(agent, s["local_id"], 300, reason="customer_return")
        assert status == 201, first
        assert (first["seq"], first["sync_state"], first["amount"]) == (2, "queued", 300)
        assert first["print"]["status"] == "queued"
        status, second = await refund(agent, s["local_id"], 700)
        assert (status, second["seq"]) == (201, 3)
        status, over = await refund(agent, s["local_id"], 1)
        assert (status, over["error"]["code"]) == (409, "refund_exceeds_remaining")
        chain = rows(agent, "SELECT seq, prev_hash, hash, item_json FROM sales UNION ALL "
                            "SELECT seq, prev_hash, hash, item_json FROM refunds ORDER BY seq")
        prev = GENESIS_HASH
        for seq, prev_hash, hashed, item_json in chain:
            assert prev_hash == prev and item_hash(prev_hash, json.loads(item_json)) == hashed, seq
            prev = hashed
        item = json.loads(chain[1][3])
        assert item["kind"] == "refund" and item["refund"] == {
            "amount": 300, "currency": "JPY", "reason": "customer_return",
            "merchant_refund_id": first["merchant_refund_id"], "payment_local_id": s["local_id"]}
        listed = await (await agent.get(f"/api/sales/{s['local_id']}/refunds")).json()
        assert [r["amount"] for r in listed["data"]] == [300, 700]

    async def test_parallel_refunds_cannot_pass_the_sale(self, agent: TestClient[Any, Any]) -> None:
        """Four parallel refunds of 700 of a 2500 card sale: exactly three are taken, one is 409."""
        s = await sale(agent, CARD)
        results = await asyncio.gather(*(refund(agent, s["local_id"], 700) for _ in range(4)))
        assert sorted(status for status, _body in results) == [201, 201, 201, 409]
        assert [b["error"]["code"] for st, b in results if st == 409] == ["refund_exceeds_remaining"]
        assert rows(agent, "SELECT COUNT(*), SUM(amount) FROM refunds") == [(3, 2100)]

    @pytest.mark.parametrize("case", [
        (RIGHT, 1001, "sale", 409, "refund_exceeds_remaining"),
        (RIGHT, 100, "failed", 409, "payment_not_refundable"),
        (RIGHT, 100, "unknown", 404, "sale_not_found"),
        ("wrong", 100, "sale", 401, "admin_password_wrong"),
        (RIGHT, 0, "sale", 422, "validation_error"),
    ])
    async def test_refusals_write_nothing(self, agent: TestClient[Any, Any],
                                          case: tuple[str, int, str, int, str]) -> None:
        """Too much, a declined sale, an unknown sale, a wrong PIN, a zero amount: refused, nothing kept."""
        password, amount, target, status, code = case
        ok = await sale(agent, CASH)
        declined = await sale(agent, {**CARD, "card_result": {**CARD["card_result"], "status": "declined"}})
        local_id = {"sale": ok["local_id"], "failed": declined["local_id"], "unknown": "nope"}[target]
        got, body = await refund(agent, local_id, amount, password)
        assert (got, body["error"]["code"]) == (status, code)
        assert rows(agent, "SELECT COUNT(*) FROM refunds") == [(0,)]

    async def test_wrong_pins_lock_refunds(self, agent: TestClient[Any, Any]) -> None:
        """After MAX_FAILURES wrong PINs the right one is refused too (429): the Z report's lockout."""
        s = await sale(agent, CASH)
        for _ in range(MAX_FAILURES):
            await refund(agent, s["local_id"], 100, "guess")
        status, body = await refund(agent, s["local_id"], 100)
        assert (status, body["error"]["code"]) == (429, "admin_locked")
        assert rows(agent, "SELECT COUNT(*) FROM refunds") == [(0,)]

    async def test_cross_origin_refused(self, agent: TestClient[Any, Any]) -> None:
        """A page of another site cannot refund (403) and nothing is written."""
        s = await sale(agent, CASH)
        resp = await agent.post(f"/api/sales/{s['local_id']}/refunds", json={"amount": 1, "password": RIGHT},
                                headers={"Origin": "http://evil.example"})
        assert resp.status == 403
        assert rows(agent, "SELECT COUNT(*) FROM refunds") == [(0,)]

    async def test_refunds_count_against_the_offline_caps(self, agent: TestClient[Any, Any]) -> None:
        """With max_count 6, five sales and one refund fill the queue: the next refund is 429."""
        sales = [await sale(agent, CASH) for _ in range(5)]
        assert (await refund(agent, sales[0]["local_id"], 100))[0] == 201
        status, body = await refund(agent, sales[1]["local_id"], 100)
        assert (status, body["error"]["code"]) == (429, "offline_count_limit")
        assert rows(agent, "SELECT SUM(count), SUM(amount) FROM pending_totals") == [(6, 5100)]


class TestRetries:
    async def test_same_reference_is_the_same_refund(self, agent: TestClient[Any, Any]) -> None:
        """A retry under the client's merchant_refund_id is 200 with the first refund (no second one, even
        when both arrive at once); the reference with another amount is 409."""
        s = await sale(agent, CASH)
        results = await asyncio.gather(*(refund(agent, s["local_id"], 1000, merchant_refund_id="POS-R-1")
                                         for _ in range(3)))
        assert sorted(status for status, _b in results) == [200, 200, 201]
        assert len({body["local_id"] for _s, body in results}) == 1
        assert [body.get("print", {}).get("status") for st, body in results if st == 201] == ["queued"]
        assert all("print" not in body for st, body in results if st == 200)  # printed once
        status, body = await refund(agent, s["local_id"], 999, merchant_refund_id="POS-R-1")
        assert (status, body["error"]["code"]) == (409, "merchant_refund_id_in_use")
        assert rows(agent, "SELECT COUNT(*), SUM(amount) FROM refunds") == [(1, 1000)]


class TestOpenApi:
    async def test_refund_route_is_documented(self, agent: TestClient[Any, Any]) -> None:
        """GET /api/openapi.json has the refund path, its refusals and the CreateRefund schema (an amount or
        items, whose schema is in the document too)."""
        doc = await (await agent.get("/api/openapi.json")).json()
        post = doc["paths"]["/api/sales/{local_id}/refunds"]["post"]
        assert {"201", "200", "403", "422"} <= set(post["responses"])
        schemas = doc["components"]["schemas"]
        props = schemas["CreateRefund"]["properties"]
        assert props["amount"]["anyOf"][0]["exclusiveMinimum"] == 0
        ref = props["items"]["items"]["$ref"]
        assert schemas[ref.removeprefix("#/components/schemas/")]["required"] == ["line", "quantity"]
