"""A QR MPM sale the customer paid, against the REAL cloud process (`--simulator-routes`, settled through
`POST /_simulator/payment_intents/{id}/pay` as the customer's phone would): the agent learns it without any
`…/sync`, and "Stop waiting" (cancel) after the payment ends paid on both sides, counted once
(docs/cloud-api.md#learning-the-providers-outcome, docs/local-web.md#other-json-routes)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from drivers.simulators.rig import SimulatorRig
from sync.testing.processes import CloudProcess, provision_real_device, real_cloud_intents
from tests.integration.agent.services.qr_sales.conftest import RealCloud, StartAgent


@dataclass
class PayingCloudProcess(CloudProcess):
    """`mpac-pgw serve --simulator-routes`: the simulator provider's codes can be settled from loopback."""

    def argv(self) -> list[str]:
        return [*super().argv(), "--simulator-routes"]


@pytest.fixture
async def real_cloud(tmp_path: Path) -> AsyncIterator[RealCloud]:
    """The real cloud with its simulator routes on and one enrolled device."""
    work = tmp_path / "cloud"
    work.mkdir()
    process = PayingCloudProcess("real", work)
    await process.start()
    try:
        yield RealCloud(process, await provision_real_device(process, "QR-PAID-1"))
    finally:
        await process.stop()


async def _customer_pays(cloud: RealCloud, intent_id: str) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{cloud.url}/_simulator/payment_intents/{intent_id}/pay") as resp,
    ):
        assert (resp.status, (await resp.json())["marked"]) == (200, "pay")


async def _mpm_sale(client: TestClient[Any, Any], amount: int) -> dict[str, Any]:
    resp = await client.post("/api/sales", json={"amount": amount, "payment_method": "qr_mpm"})
    sale: dict[str, Any] = await resp.json()
    assert (resp.status, sale["status"]) == (201, "requires_action"), sale
    return sale


async def _sale(client: TestClient[Any, Any], local_id: str) -> dict[str, Any]:
    resp = await client.get(f"/api/sales/{local_id}")
    assert resp.status == 200
    sale: dict[str, Any] = await resp.json()
    return sale


def _cloud_transitions(cloud: RealCloud, intent_id: str) -> list[tuple[str | None, str]]:
    with sqlite3.connect(f"file:{cloud.process.db_path}?mode=ro", uri=True) as conn:
        found = conn.execute("SELECT from_status, to_status FROM transactions WHERE intent_id = ? "
                             "ORDER BY created_at, rowid", (intent_id,)).fetchall()  # fmt: skip
    return [(r[0], r[1]) for r in found]


PAID_PATH = [
    (None, "requires_payment_method"),
    ("requires_payment_method", "requires_action"),
    ("requires_action", "processing"),
    ("processing", "succeeded"),
]


class TestPaidMpmSale:
    async def test_polling_the_sale_shows_it_paid_without_a_sync(
        self, real_cloud: RealCloud, start_agent: StartAgent, sims: SimulatorRig
    ) -> None:
        """After the customer pays, the cashier screen's poll (GET /api/sales/{id}) reaches succeeded and the
        receipt prints, with no POST …/sync from anyone."""
        client, _ = await start_agent({"cloud": real_cloud.cloud_table()},
                                      {"printer": sims.devices_config()["printer"]})  # fmt: skip
        sale = await _mpm_sale(client, 2980)
        assert (await _sale(client, sale["local_id"]))["status"] == "requires_action"
        await _customer_pays(real_cloud, sale["cloud_intent_id"])
        async with asyncio.timeout(15):  # generous bound: the cloud reads the provider about once a second
            while (await _sale(client, sale["local_id"]))["status"] != "succeeded":  # noqa: ASYNC110 - polls
                await asyncio.sleep(0.2)
        (receipt,) = await sims.printer.wait_receipts(1)
        assert "2,980" in receipt
        assert _cloud_transitions(real_cloud, sale["cloud_intent_id"]) == PAID_PATH

    async def test_stop_waiting_after_the_customer_paid_ends_paid_and_counted_once(
        self, real_cloud: RealCloud, start_agent: StartAgent, sims: SimulatorRig
    ) -> None:
        """Cancel of a sale the customer just paid: 409 sale_final saying it is paid, the sale succeeded on
        the agent and on the cloud, never cancelled; one intent, one receipt, one QR sale in today's total."""
        client, _ = await start_agent({"cloud": real_cloud.cloud_table()},
                                      {"printer": sims.devices_config()["printer"]})  # fmt: skip
        sale = await _mpm_sale(client, 1500)
        await _customer_pays(real_cloud, sale["cloud_intent_id"])
        resp = await client.post(f"/api/sales/{sale['local_id']}/cancel", json={})
        refused = (await resp.json())["error"]
        assert (resp.status, refused["code"]) == (409, "sale_final"), refused
        assert "already paid" in refused["message"]
        shown = await _sale(client, sale["local_id"])
        assert (shown["status"], shown["failure_code"]) == ("succeeded", None)
        intent = await real_cloud.intent(sale["cloud_intent_id"])
        assert (intent["status"], intent["cancellation_reason"]) == ("succeeded", None)
        assert _cloud_transitions(real_cloud, sale["cloud_intent_id"]) == PAID_PATH
        again = await client.post(f"/api/sales/{sale['local_id']}/cancel", json={})
        assert (again.status, (await again.json())["error"]["code"]) == (409, "sale_final")
        (receipt,) = await sims.printer.wait_receipts(1)
        assert "1,500" in receipt
        assert [(i["status"], i["amount"]) for i in await real_cloud_intents(real_cloud.url, real_cloud.cred)
                ] == [("succeeded", 1500)]  # fmt: skip
        listed = (await (await client.get("/api/sales")).json())["data"]
        assert [(s["local_id"], s["status"]) for s in listed] == [(sale["local_id"], "succeeded")]
        today = (await (await client.get("/api/web/overview")).json())["today"]["by_method"]
        assert (today["qr_mpm"]["count"], today["qr_mpm"]["amount"]) == (1, {"JPY": 1500})
        assert len(sims.printer.paper_roll.receipts()) == 1
