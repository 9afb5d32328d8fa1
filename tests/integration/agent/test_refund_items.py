"""Itemised partial refunds on the real agent app over a real SQLite file: the return invoice (返品) of part
of the mixed-rate sale is byte-exact with the tax per rate computed here; a line is never returned beyond what
was sold minus earlier returns, also across a restart and when refunds race; an amount that is not the items'
sum, items of a sale without items and a bad line are refused with nothing written."""

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
from drivers.simulators.rig import SimulatorRig
from tests.integration.agent.conftest import FakePrinter, MakeClient
from tests.integration.agent.entrypoints.web.test_admin_lockout import RIGHT, Clock, enroll
from tests.integration.agent.test_invoice_receipt import (  # noqa: F401 -- agent, store_clock: fixtures
    ITEMS,
    NOW,
    REG,
    SALE,
    StoreClock,
    W,
    _jobs,
    agent,
    expected_bytes,
    expected_text,
    jp,
    lr,
    store_clock,
    yen,
)

# Of the sale's ITEMS: both rice balls (8 %), the tea (8 %) and two of the three beers (10 %). Floored per
# line the 8 % tax would be 22 + 11 = 33; once over the rate's total it is 34.
RETURNED = [(0, 2), (1, 1), (3, 2)]


def refund_text() -> tuple[list[str], list[str], list[str]]:
    """(body, total, rest) lines of the itemised refund receipt of RETURNED, written out by hand; the total
    and tax per rate computed here from ITEMS."""
    gross = {10: 0, 8: 0}
    for index, qty in RETURNED:
        _name, price, _sold, rate = ITEMS[index]
        gross[rate] += price * qty
    tax10, tax8 = gross[10] * 10 // 110, gross[8] * 8 // 108
    assert (gross[10], tax10, gross[8], tax8) == (576, 52, 460, 34)  # by hand, too
    returned = [
        "※おにぎり 鮭",
        lr("  @¥150 x2", "¥300"),
        lr("※お茶", "¥160"),
        "ビール",
        lr("  @¥288 x2", "¥576"),
    ]
    body = [
        "株式会社テスト商事",
        lr("登録番号", REG),
        lr("2025-11-26 09:15", "No.000002"),  # the refund, the next morning
        lr("元取引", "No.000001"),
        lr("元取引日", "2025-11-25"),  # the sale it returns (a return invoice names the original's date)
        "-" * W,
        *returned,
        "-" * W,
    ]
    rest = [
        lr("10%対象", yen(gross[10])),
        lr("  内消費税等", yen(tax10)),
        lr("8%対象 ※", yen(gross[8])),
        lr("  内消費税等", yen(tax8)),
        "※は軽減税率対象",
        lr("お支払方法", "現金"),
        "-" * W,
    ]
    return body, [lr("返金合計", yen(gross[10] + gross[8]))], rest


def refund_bytes(refund_id: str) -> bytes:
    """The hand-built bytes of the sale's receipt (test_invoice_receipt) with the refund's title and text in
    place of the sale's; the commands around them (QR of the refund id, cut, drawer kick) as the sale's."""
    out = expected_bytes(refund_id)
    swaps = [(["領収書"], ["返品"]), *zip(expected_text(refund_id), refund_text(), strict=True)]
    for old, new in swaps:
        before = jp("\n".join(old) + "\n")
        assert out.count(before) == 1, old
        out = out.replace(before, jp("\n".join(new) + "\n"))
    return out


def items(*lines: tuple[int, int]) -> list[dict[str, int]]:
    return [{"line": line, "quantity": qty} for line, qty in lines]


class TestItemisedRefundReceipt:
    async def test_partial_refund_receipt_bytes(
        self,
        agent: TestClient[Any, Any],  # noqa: F811
        rig: SimulatorRig,
        store_clock: StoreClock,  # noqa: F811
    ) -> None:
        """Bytes equal the hand-built return invoice: returned lines, tax per rate once, 返金合計 = amount,
        the refund's own date and number, the original sale's number and date."""
        sale = await (await agent.post("/api/sales", json=SALE)).json()
        await rig.printer.wait_receipts(1)
        store_clock.now = NOW + (22 * 60 + 45) * 60_000  # the next day, 09:15 in Asia/Tokyo
        resp = await agent.post(
            f"/api/sales/{sale['local_id']}/refunds", json={"items": items(*RETURNED), "password": RIGHT}
        )
        refund = await resp.json()
        assert resp.status == 201, refund
        assert refund["amount"] == 1036 and [i["line"] for i in refund["items"]] == [0, 1, 3]
        paper = (await rig.printer.wait_receipts(2))[1]
        jobs = _jobs(agent)
        assert len(jobs) == 2 and jobs[1][2] == refund_bytes(refund["local_id"])
        body, total, rest = refund_text()
        lines = [line.rstrip() for line in paper.splitlines()]
        assert lines[: 2 + len(body) + 1 + len(rest)] == ["テスト商店", "返品", *body, *total, *rest]


def rows(client: TestClient[Any, Any], sql: str) -> list[tuple[Any, ...]]:
    """A read of the agent's database file, from outside the agent."""
    with sqlite3.connect(client.app[DEPS].settings.agent.db_path) as conn:
        return list(conn.execute(sql))


def written(client: TestClient[Any, Any]) -> list[tuple[Any, ...]]:
    """What a refund leaves: refunds, receipt numbers, the pending queue."""
    return rows(
        client,
        "SELECT (SELECT COUNT(*) FROM refunds), (SELECT COUNT(*) FROM receipt_numbers), "
        "(SELECT SUM(count) FROM pending_totals), (SELECT SUM(amount) FROM pending_totals)",
    )


class Shop:
    """The agent app (enrolled, a fake printer) over one state folder; `reopen()` starts it again over it."""

    def __init__(self, folder: Path, make_client: MakeClient) -> None:
        self.folder, self.make_client, self.printer = folder, make_client, FakePrinter()
        self.client: TestClient[Any, Any] | None = None

    async def open(self) -> TestClient[Any, Any]:
        self.client = await self.make_client(
            devices=Devices(printer=self.printer), folder=self.folder, clock_ms=Clock()
        )
        return self.client

    async def reopen(self) -> TestClient[Any, Any]:
        assert self.client is not None
        await self.client.close()
        return await self.open()

    async def sale(self, body: dict[str, Any]) -> str:
        assert self.client is not None
        resp = await self.client.post("/api/sales", json=body)
        found = await resp.json()
        assert resp.status == 201, found
        return str(found["local_id"])

    async def refund(self, local_id: str, **body: Any) -> tuple[int, dict[str, Any]]:
        assert self.client is not None
        resp = await self.client.post(f"/api/sales/{local_id}/refunds", json={"password": RIGHT, **body})
        return resp.status, await resp.json()


@pytest.fixture
async def shop(tmp_path: Path, make_client: MakeClient) -> Shop:
    enroll(tmp_path)
    found = Shop(tmp_path, make_client)
    await found.open()
    return found


CASH: dict[str, Any] = {"amount": 1000, "payment_method": "cash", "cash_received": 1000}
LINES: dict[str, Any] = {**CASH, "lines": [{"name": "おにぎり", "quantity": 2, "amount": 1000}], "tax": 74}
# A sale with a free line (a ¥0 bag): returning only that line would refund nothing.
FREE: dict[str, Any] = {"amount": 150, "payment_method": "cash", "cash_received": 150, "items": [
    {"name": "おにぎり", "unit_price": 150, "quantity": 1, "tax_rate": 8},
    {"name": "袋", "unit_price": 0, "quantity": 1, "tax_rate": 10}]}


class TestCumulativeLines:
    async def test_one_then_one_then_refused_across_a_reopen(self, shop: Shop) -> None:
        """1 of the 2 rice balls, then the other after a restart, then a third: 409, nothing written."""
        local_id = await shop.sale(SALE)
        status, first = await shop.refund(local_id, items=items((0, 1)))
        assert (status, first["amount"]) == (201, 150), first
        client = await shop.reopen()
        status, second = await shop.refund(local_id, items=items((0, 1)), amount=150)
        assert (status, second["amount"]) == (201, 150), second
        before = written(client)
        status, third = await shop.refund(local_id, items=items((0, 1)))
        assert (status, third["error"]["code"], third["error"]["param"]) == (
            409,
            "refund_exceeds_sold",
            "items[0].quantity",
        )
        assert "残数 0" in third["error"]["message"] and "Only 0 of line 0" in third["error"]["message"]
        assert written(client) == before and before[0][0] == 2
        assert len(shop.printer.receipts) == 3  # the sale and two refunds; nothing for the refusal
        stored = [json.loads(r[0]) for r in rows(client, "SELECT items_json FROM refunds ORDER BY seq")]
        one = {"line": 0, "name": "おにぎり 鮭", "unit_price": 150, "quantity": 1, "tax_rate": 8}
        assert stored == [[one], [one]]
        listed = await (await client.get(f"/api/sales/{local_id}/refunds")).json()
        assert [r["items"][0]["quantity"] for r in listed["data"]] == [1, 1]

    async def test_the_rest_of_other_lines_stays_returnable(self, shop: Shop) -> None:
        """Once both rice balls are back, the other lines still can be, up to what was sold of each."""
        local_id = await shop.sale(SALE)
        assert (await shop.refund(local_id, items=items((0, 2))))[0] == 201
        status, body = await shop.refund(local_id, items=items((3, 3), (0, 1)))
        assert (status, body["error"]["param"]) == (409, "items[1].quantity")
        status, body = await shop.refund(local_id, items=items((3, 3), (4, 1)))
        assert (status, body["amount"]) == (201, 288 * 3 + 84)

    async def test_three_returns_sent_together_cannot_pass_a_line(self, shop: Shop) -> None:
        """Three returns of one rice ball (two sold) sent together over HTTP: two are taken, one is 409. The
        PIN gate spaces such requests out; the writer-batch race itself is test_one_batch_cannot_pass_a_line
        (tests/integration/agent/adapters/store/test_refund_items_store.py)."""
        local_id = await shop.sale(SALE)
        results = await asyncio.gather(*(shop.refund(local_id, items=items((0, 1))) for _ in range(3)))
        assert sorted(status for status, _body in results) == [201, 201, 409]
        assert shop.client is not None
        assert rows(shop.client, "SELECT COUNT(*), SUM(amount) FROM refunds") == [(2, 300)]

    async def test_a_retry_is_the_same_refund(self, shop: Shop) -> None:
        """A retry of an itemised refund under its reference is 200 with the first (its lines are not
        counted twice against it); the reference with other lines is 409."""
        local_id = await shop.sale(SALE)
        ref = {"merchant_refund_id": "POS-R-9"}
        assert (await shop.refund(local_id, items=items((0, 2)), **ref))[0] == 201
        status, again = await shop.refund(local_id, items=items((0, 2)), **ref)
        assert (status, again["amount"]) == (200, 300)
        status, other = await shop.refund(local_id, items=items((0, 1), (1, 1)), **ref)
        assert (status, other["error"]["code"]) == (409, "merchant_refund_id_in_use")
        ref2 = {"merchant_refund_id": "POS-R-10"}  # the same lines listed in another order: the same refund
        assert (await shop.refund(local_id, items=items((2, 1), (3, 1)), **ref2))[0] == 201
        status, again = await shop.refund(local_id, items=items((3, 1), (2, 1)), **ref2)
        assert (status, again["amount"]) == (200, 398 + 288)

    async def test_the_sync_item_is_amount_only(self, shop: Shop) -> None:
        """The chained refund item is the amount-based one of docs/sync-protocol.md: no items in it."""
        local_id = await shop.sale(SALE)
        _status, refund = await shop.refund(local_id, items=items((1, 1)))
        assert shop.client is not None
        ((item_json,),) = rows(shop.client, "SELECT item_json FROM refunds")
        ref = refund["merchant_refund_id"]
        assert json.loads(item_json)["refund"] == {
            "amount": 160,
            "currency": "JPY",
            "payment_local_id": local_id,
            "merchant_refund_id": ref,
        }


class TestRefusals:
    @pytest.mark.parametrize("case", [
        (SALE, {"items": items((0, 1)), "amount": 151}, 422, "refund_items_mismatch", "amount"),
        (CASH, {"items": items((0, 1))}, 422, "sale_not_itemised", "items"),
        (LINES, {"items": items((0, 1)), "amount": 500}, 422, "sale_not_itemised", "items"),
        (SALE, {"items": items((5, 1))}, 422, "refund_line_invalid", "items[0].line"),
        (SALE, {"items": items((1, 1), (1, 1))}, 422, "refund_line_invalid", "items[1].line"),
        (SALE, {"items": items((1, 2))}, 409, "refund_exceeds_sold", "items[0].quantity"),
        (SALE, {"items": items((1, 0))}, 422, "validation_error", "items.0.quantity"),
        (SALE, {"items": []}, 422, "validation_error", None),
        (FREE, {"items": items((1, 1))}, 422, "refund_amount_zero", "items"),
    ])  # fmt: skip
    async def test_refusals_write_nothing(self, shop: Shop, case: tuple[Any, ...]) -> None:
        """A wrong amount, a sale without items (or with receipt lines only), an unknown or repeated line,
        more than was sold, a zero quantity, neither amount nor items: refused naming the field, nothing
        kept."""
        sale, body, status, code, param = case
        local_id = await shop.sale(sale)
        assert shop.client is not None
        before = written(shop.client)
        got, answer = await shop.refund(local_id, **body)
        assert (got, answer["error"]["code"], answer["error"].get("param")) == (status, code, param)
        assert written(shop.client) == before and before[0][0] == 0
        assert len(shop.printer.receipts) == 1

    async def test_mismatch_message_is_bilingual(self, shop: Shop) -> None:
        """The amount mismatch says both sums, in Japanese and English."""
        local_id = await shop.sale(SALE)
        _status, answer = await shop.refund(local_id, items=items((0, 1), (2, 1)), amount=500)
        message = answer["error"]["message"]
        assert "返金額 ¥500 が明細の合計 ¥548 と一致しません" in message and "add up to ¥548" in message
