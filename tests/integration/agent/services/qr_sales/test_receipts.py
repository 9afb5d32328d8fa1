"""Receipts through the real device stack: the agent's printer service → ESC/POS over a pty → the printer
simulator's paper roll, for cash, card (reader simulator) and QR CPM (real cloud) sales."""

from __future__ import annotations

from drivers.simulators.rig import SimulatorRig
from tests.integration.agent.services.qr_sales.conftest import RealCloud, StartAgent


class TestReceipts:
    async def test_cash_card_and_cpm_sales_print_once_each(
        self, real_cloud: RealCloud, start_agent: StartAgent, sims: SimulatorRig
    ) -> None:
        """Each committed sale prints exactly one receipt with its own amount and method details."""
        devices = sims.devices_config()
        client, _ = await start_agent(
            {"cloud": real_cloud.cloud_table()},
            {"printer": devices["printer"], "card_reader": devices["card_reader"]},
        )
        cash = await client.post(
            "/api/sales",
            json={
                "amount": 1234,
                "payment_method": "cash",
                "cash_received": 5000,
                "lines": [{"name": "おにぎり", "quantity": 2, "amount": 1234}],
            },
        )
        body = await cash.json()
        assert cash.status == 201 and body["print"]["status"] == "queued"
        (first,) = await sims.printer.wait_receipts(1)
        assert "おにぎり" in first and "1,234" in first and "3,766" in first  # item, total, change
        card = await client.post("/api/sales", json={"amount": 2200, "payment_method": "card"})
        card_body = await card.json()
        assert card.status == 201 and card_body["status"] == "succeeded", card_body
        receipts = await sims.printer.wait_receipts(2)
        assert "2,200" in receipts[1] and card_body["result"]["card_last_4"] in receipts[1]
        cpm = await client.post(
            "/api/sales", json={"amount": 3300, "payment_method": "qr_cpm", "customer_code": "RCPT-OK-1"}
        )
        cpm_body = await cpm.json()
        assert cpm_body["status"] == "succeeded" and cpm_body["print"]["status"] == "queued"
        receipts = await sims.printer.wait_receipts(3)
        assert "3,300" in receipts[2]
        again = await client.post(
            "/api/sales",
            json={
                "amount": 3300,
                "payment_method": "qr_cpm",
                "customer_code": "RCPT-OK-1",
                "merchant_ref_id": cpm_body["merchant_ref_id"],
            },
        )
        assert again.status == 200 and "print" not in await again.json()
        assert len(sims.printer.paper_roll.receipts()) == 3

    async def test_declined_cpm_prints_nothing(
        self, real_cloud: RealCloud, start_agent: StartAgent, sims: SimulatorRig
    ) -> None:
        """A failed QR CPM sale prints no receipt (only a paid sale does)."""
        client, _ = await start_agent(
            {"cloud": real_cloud.cloud_table()}, {"printer": sims.devices_config()["printer"]}
        )
        resp = await client.post(
            "/api/sales", json={"amount": 500, "payment_method": "qr_cpm", "customer_code": "SIMFAIL-1"}
        )
        body = await resp.json()
        assert body["status"] == "failed" and "print" not in body
        cash = await client.post(
            "/api/sales", json={"amount": 100, "payment_method": "cash", "cash_received": 100}
        )
        assert cash.status == 201
        (only,) = await sims.printer.wait_receipts(1)
        assert "500" not in only
