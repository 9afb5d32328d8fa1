"""A business day with sales and refunds on the real agent app, restarted in the middle of the day: the X and
Z figures (refunds block, net amount, cash expected) equal what this test adds up from what it did; the Z
report marks the refunds, so the next day starts empty; the refund receipt prints as 返品 on the simulator."""

from __future__ import annotations

import sqlite3
from typing import Any

from tests.integration.agent.entrypoints.web.test_admin_lockout import RIGHT
from tests.integration.agent.test_settlement import Agent, agent, card, cash  # noqa: F401 -- the fixture

GROUPS = {"cash": "cash", "card": "credit_card"}


def expected(sales: list[dict[str, Any]], refunds: list[tuple[int, int]]) -> dict[str, Any]:
    """Refund block, net and cash expected from the succeeded JPY sales and (sale index, amount) refunds."""
    ok = [s for s in sales if s["payment_method"] == "cash" or s["card_result"]["status"] == "approved"]
    by = {g: {"transaction_count": 0, "total_amount": 0} for g in ("cash", "credit_card", "qr")}
    for index, amount in refunds:
        bucket = by[GROUPS[sales[index]["payment_method"]]]
        bucket["transaction_count"] += 1
        bucket["total_amount"] += amount
    total = sum(s["amount"] for s in ok)
    refunded = sum(a for _i, a in refunds)
    cash_in = sum(s["amount"] for s in ok if s["payment_method"] == "cash")
    return {"refunds": {"transaction_count": len(refunds), "total_amount": refunded, "by_method": by},
            "total_amount": total, "net_amount": total - refunded,
            "cash_expected": cash_in - by["cash"]["total_amount"]}


class TestSettlementWithRefunds:
    async def test_day_with_refunds_across_a_restart(self, agent: Agent) -> None:  # noqa: F811
        """Refunds before and after a restart (one of a sale made before it) are in X and Z as added here."""
        before = [cash(1200, 2000), card(3000, "VISA"), cash(880, 1000)]
        after = [card(2200, "JCB"), cash(450, 500)]
        ids = [await self._sell(agent, s) for s in before]
        refunds = [(0, 200), (1, 3000)]  # a partial cash refund, a full card refund
        for index, amount in refunds:
            await self._refund(agent, ids[index], amount)
        await agent.restart()
        ids += [await self._sell(agent, s) for s in after]
        later = [(2, 880), (3, 1000)]  # the full refund of a sale made before the restart, a partial card one
        for index, amount in later:
            await self._refund(agent, ids[index], amount)
        day = expected(before + after, refunds + later)
        assert (day["net_amount"], day["cash_expected"]) == (2650, 1450)  # by hand, too
        assert agent.client is not None
        x = await (await agent.client.get("/api/settlement/x")).json()
        assert {k: x[k] for k in day} == day
        resp = await agent.client.post("/api/settlement/z", json={"password": RIGHT, "cash_counted": 1450})
        z = await resp.json()
        assert resp.status == 201, z
        assert {k: z[k] for k in day} == day and z["cash_discrepancy"] == 0
        with sqlite3.connect(agent.folder / "agent.sqlite3") as conn:
            marked = conn.execute("SELECT COUNT(*) FROM refunds WHERE settlement_id = ?",
                                  (z["settlement_id"],)).fetchone()
        assert marked == (4,)
        stored = agent.rows()[0][3]
        assert '"net_amount":2650' in stored
        empty = await (await agent.client.get("/api/settlement/x")).json()
        assert {k: empty[k] for k in day} == expected([], [])

    async def test_refund_receipt_prints(self, agent: Agent) -> None:  # noqa: F811
        """A partial cash refund prints 返品 with the original receipt's number and the refunded amount."""
        local_id = await self._sell(agent, cash(1200, 2000))
        await agent.rig.printer.wait_receipts(1)
        await self._refund(agent, local_id, 300, reason="不良品")
        paper = (await agent.rig.printer.wait_receipts(2))[1].splitlines()
        lines = [ln.rstrip() for ln in paper]
        assert lines[:2] == ["Test Store", "返品"]
        assert any(ln.startswith("元取引") and ln.endswith("No.000001") for ln in lines)
        assert any(ln.startswith("返品 不良品") and ln.endswith("¥300") for ln in lines)
        assert any(ln.startswith("返金合計") and ln.endswith("¥300") for ln in lines)
        assert not any("内消費税等" in ln for ln in lines)  # a partial refund knows no tax per rate

    @staticmethod
    async def _sell(shop: Agent, body: dict[str, Any]) -> str:
        assert shop.client is not None
        shop.clock.now += 60_000
        resp = await shop.client.post("/api/sales", json=body)
        found = await resp.json()
        assert resp.status == 201, found
        return str(found["local_id"])

    @staticmethod
    async def _refund(shop: Agent, local_id: str, amount: int, **extra: Any) -> None:
        assert shop.client is not None
        shop.clock.now += 60_000
        resp = await shop.client.post(f"/api/sales/{local_id}/refunds",
                                       json={"amount": amount, "password": RIGHT, **extra})
        assert resp.status == 201, await resp.json()
