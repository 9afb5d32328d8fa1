"""End-of-day settlement on the real agent app over one SQLite file, restarted in the middle of the day: the
X and Z figures equal what this test adds up from the sales it made; the Z report needs the manager's PIN,
is stored (queued for sync), printed on the simulator, and runs once per business day."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from agent.bootstrap import build_app
from agent.entrypoints.web.admin import MAX_FAILURES
from drivers.simulators.rig import SimulatorRig
from tests.integration.agent.conftest import make_settings
from tests.integration.agent.entrypoints.web.test_admin_lockout import RIGHT, Clock, enroll

DAY = 86_400_000
MORNING = 1764028800000  # 2025-11-25 09:00 in Asia/Tokyo


def cash(amount: int, received: int, currency: str = "JPY") -> dict[str, Any]:
    return {"amount": amount, "payment_method": "cash", "cash_received": received, "currency": currency}


def card(amount: int, brand: str, approved: bool = True) -> dict[str, Any]:
    result = {"status": "approved", "approval_code": "A1"} if approved else {"status": "declined"}
    return {"amount": amount, "payment_method": "card",
            "card_result": {**result, "card_brand": brand, "card_last_4": "4242", "entry_method": "chip"}}


BEFORE = [cash(1200, 2000), cash(880, 1000), card(3000, "VISA"), card(500, "VISA", approved=False),
          cash(1500, 2000, "USD")]
AFTER = [cash(450, 500), card(2200, "JCB"), card(1000, "VISA")]


def expected(sales: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures of these sales, added up here: succeeded JPY sales per method and brand."""
    ok = [s for s in sales if s["payment_method"] == "cash" or s["card_result"]["status"] == "approved"]
    jpy = [s for s in ok if s.get("currency", "JPY") == "JPY"]
    cash_sales = [s["amount"] for s in jpy if s["payment_method"] == "cash"]
    cards = [s for s in jpy if s["payment_method"] == "card"]
    brands: dict[str, dict[str, int]] = {}
    for s in cards:
        b = brands.setdefault(s["card_result"]["card_brand"], {"transaction_count": 0, "total_amount": 0})
        b["transaction_count"] += 1
        b["total_amount"] += s["amount"]
    usd = [s["amount"] for s in ok if s.get("currency") == "USD"]
    return {
        "payment_method_breakdown": {
            "cash": {"transaction_count": len(cash_sales), "total_amount": sum(cash_sales)},
            "credit_card": {"transaction_count": len(cards), "total_amount": sum(s["amount"] for s in cards),
                            "by_brand": dict(sorted(brands.items()))},
            "qr": {"transaction_count": 0, "total_amount": 0, "by_method": {}}},
        "total_transactions": len(jpy), "total_amount": sum(s["amount"] for s in jpy),
        "cash_expected": sum(cash_sales), "failed_transactions": len(sales) - len(ok),
        "other_currencies": {"USD": {"transaction_count": len(usd), "total_amount": sum(usd)}} if usd else {},
    }


class Agent:
    """The agent app over one state folder; `restart()` closes it and opens a new one over the same file."""

    def __init__(self, folder: Path, rig: SimulatorRig, clock: Clock) -> None:
        self.folder, self.rig, self.clock = folder, rig, clock
        self.client: TestClient[Any, Any] | None = None

    async def start(self) -> TestClient[Any, Any]:
        devices = {"printer": {"transport": "serial", "path": self.rig.printer.path}, "reopen_max_s": 0.5}
        settings = make_settings(self.folder, {"devices": devices})
        app = await build_app(settings, sync=False, clock_ms=self.clock)
        self.client = TestClient(TestServer(app))
        await self.client.start_server()
        return self.client

    async def restart(self) -> TestClient[Any, Any]:
        assert self.client is not None
        await self.client.close()
        return await self.start()

    async def sell(self, sales: list[dict[str, Any]]) -> None:
        assert self.client is not None
        for sale in sales:
            self.clock.now += 60_000
            resp = await self.client.post("/api/sales", json=sale)
            assert resp.status == 201, await resp.json()

    def rows(self) -> list[tuple[int, str, str, str]]:
        with sqlite3.connect(self.folder / "agent.sqlite3") as conn:
            return list(conn.execute("SELECT z_number, business_date, sync_state, report_json "
                                     "FROM settlements ORDER BY z_number"))


@pytest.fixture
async def agent(tmp_path: Path, rig: SimulatorRig) -> AsyncIterator[Agent]:
    folder = tmp_path / "state"
    folder.mkdir()
    enroll(folder)
    clock = Clock()
    clock.now = MORNING
    shop = Agent(folder, rig, clock)
    await shop.start()
    try:
        yield shop
    finally:
        if shop.client is not None:
            await shop.client.close()


def figures(report: dict[str, Any]) -> dict[str, Any]:
    return {key: report[key] for key in expected([])}


class TestSettlement:
    async def test_day_across_a_restart(self, agent: Agent) -> None:
        """X then Z equal the sums of the day's sales made before and after a restart; Z is stored, queued,
        printed; a second Z that day is refused (409) with nothing written; the next day is Z number 2."""
        await agent.sell(BEFORE)
        receipts = sum(1 for s in BEFORE + AFTER if s.get("card_result", {}).get("status") != "declined")
        await agent.rig.printer.wait_receipts(receipts - len(AFTER))  # printed before the restart
        client = await agent.restart()
        await agent.sell(AFTER)
        day = expected(BEFORE + AFTER)
        assert day["cash_expected"] == 2530 and day["total_amount"] == 8730  # by hand, too
        x = await (await client.get("/api/settlement/x")).json()
        assert x["type"] == "x" and figures(x) == day and x["business_date"] == "2025-11-25"
        assert agent.rows() == []  # the X report changed nothing

        wrong = await client.post("/api/settlement/z", json={"password": "nope", "cash_counted": 2500})
        assert (wrong.status, (await wrong.json())["error"]["code"]) == (401, "admin_password_wrong")
        assert agent.rows() == []

        resp = await client.post("/api/settlement/z", json={"password": RIGHT, "cash_counted": 2500})
        z = await resp.json()
        assert resp.status == 201, z
        assert figures(z) == day and (z["z_number"], z["business_date"]) == (1, "2025-11-25")
        assert (z["cash_actual"], z["cash_discrepancy"]) == (2500, 2500 - day["cash_expected"])
        ((number, date, sync_state, stored),) = agent.rows()
        assert (number, date, sync_state) == (1, "2025-11-25", "queued")
        assert z["print"]["status"] == "queued"
        slip = (await agent.rig.printer.wait_receipts(receipts + 1))[-1].splitlines()
        assert "精算 Z report" in slip and any(ln.startswith("過不足 Discrepancy") and ln.endswith("-¥30")
                                               for ln in slip)

        again = await client.post("/api/settlement/z", json={"password": RIGHT, "cash_counted": 2530})
        assert (again.status, (await again.json())["error"]["code"]) == (409, "z_report_exists")
        assert agent.rows() == [(number, date, sync_state, stored)]
        closed = await (await client.get("/api/settlement/x")).json()
        assert figures(closed) == expected([])  # nothing open after the Z report

        agent.clock.now = MORNING + DAY
        await agent.sell([cash(700, 1000)])
        body = {"password": RIGHT, "cash_counted": 700}
        z2 = await (await client.post("/api/settlement/z", json=body)).json()
        assert (z2["z_number"], z2["business_date"], z2["cash_discrepancy"]) == (2, "2025-11-26", 0)
        assert figures(z2) == expected([cash(700, 1000)])
        listed = await (await client.get("/api/settlement/z")).json()
        assert [r["z_number"] for r in listed["data"]] == [2, 1]

    async def test_wrong_pins_lock_the_z_report(self, agent: Agent) -> None:
        """After MAX_FAILURES wrong PINs even the right one is refused (429) and no day is closed."""
        assert agent.client is not None
        for _ in range(MAX_FAILURES):
            await agent.client.post("/api/settlement/z", json={"password": "guess", "cash_counted": 0})
        resp = await agent.client.post("/api/settlement/z", json={"password": RIGHT, "cash_counted": 0})
        assert (resp.status, (await resp.json())["error"]["code"]) == (429, "admin_locked")
        assert agent.rows() == []
