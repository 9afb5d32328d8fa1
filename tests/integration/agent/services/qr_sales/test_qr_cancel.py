"""POST /api/sales/{local_id}/cancel against the REAL cloud: a QR sale not yet final is cancelled there."""

from __future__ import annotations

import asyncio

from drivers.simulators.rig import SimulatorRig
from tests.integration.agent.services.qr_sales.conftest import RealCloud, StartAgent


class TestQrCancel:
    async def test_waiting_cpm_sale_cancelled_and_a_later_scan_ignored(
        self, real_cloud: RealCloud, start_agent: StartAgent, sims: SimulatorRig
    ) -> None:
        """Cancel stops the scan wait and cancels the cloud intent; a later scan pays nothing; again → 409."""
        client, ctx = await start_agent(
            {"cloud": real_cloud.cloud_table()}, {"scanner": sims.devices_config()["scanner"]}
        )
        sale = await (
            await client.post("/api/sales", json={"amount": 800, "payment_method": "qr_cpm"})
        ).json()
        resp = await client.post(f"/api/sales/{sale['local_id']}/cancel", json={})
        body = await resp.json()
        assert resp.status == 200, body
        assert (body["status"], body["failure_code"], body["awaiting_scan"]) == (
            "cancelled",
            "cancelled_by_cashier",
            False,
        )
        assert (await real_cloud.intent(sale["cloud_intent_id"]))["status"] == "cancelled"
        assert (await ctx.status_providers["qr_cpm"]())["waiting_for_scan"] is False
        sims.scanner.emit("LATE-CODE-1")
        async with asyncio.timeout(5):
            while (await ctx.status_providers["qr_cpm"]())["dropped_scans"] < 1:  # noqa: ASYNC110 - polls the agent
                await asyncio.sleep(0.02)
        assert (await real_cloud.intent(sale["cloud_intent_id"]))["status"] == "cancelled"
        again = await client.post(f"/api/sales/{sale['local_id']}/cancel", json={})
        assert again.status == 409 and (await again.json())["error"]["code"] == "sale_final"
        assert (await (await client.get(f"/api/sales/{sale['local_id']}")).json())["status"] == "cancelled"

    async def test_mpm_sale_cancelled_on_the_cloud(
        self, real_cloud: RealCloud, start_agent: StartAgent
    ) -> None:
        """A QR MPM sale waiting for the customer's app is cancelled (requires_action → cancelled)."""
        client, _ = await start_agent({"cloud": real_cloud.cloud_table()})
        sale = await (
            await client.post("/api/sales", json={"amount": 600, "payment_method": "qr_mpm"})
        ).json()
        assert sale["status"] == "requires_action"
        resp = await client.post(f"/api/sales/{sale['local_id']}/cancel", json={})
        assert resp.status == 200 and (await resp.json())["status"] == "cancelled"
        assert (await real_cloud.intent(sale["cloud_intent_id"]))["status"] == "cancelled"

    async def test_paid_cash_and_unknown_sales_not_cancelled(
        self, real_cloud: RealCloud, start_agent: StartAgent
    ) -> None:
        """Succeeded QR sale → 409 sale_final (cloud untouched); cash → 409 not_cancellable; unknown → 404."""
        client, _ = await start_agent({"cloud": real_cloud.cloud_table()})
        paid = await (
            await client.post(
                "/api/sales", json={"amount": 300, "payment_method": "qr_cpm", "customer_code": "OK1"}
            )
        ).json()
        resp = await client.post(f"/api/sales/{paid['local_id']}/cancel", json={})
        assert resp.status == 409 and (await resp.json())["error"]["code"] == "sale_final"
        assert (await real_cloud.intent(paid["cloud_intent_id"]))["status"] == "succeeded"
        cash = await (
            await client.post(
                "/api/sales", json={"amount": 300, "payment_method": "cash", "cash_received": 300}
            )
        ).json()
        resp = await client.post(f"/api/sales/{cash['local_id']}/cancel", json={})
        assert resp.status == 409 and (await resp.json())["error"]["code"] == "not_cancellable"
        assert (await client.post("/api/sales/nope/cancel", json={})).status == 404

    async def test_cancel_offline_keeps_the_sale_open(
        self, real_cloud: RealCloud, start_agent: StartAgent
    ) -> None:
        """Cloud gone after the sale: cancel answers 503 cloud_unreachable and the sale stays not final."""
        client, _ = await start_agent({"cloud": real_cloud.cloud_table(timeout_s=1.0)})
        sale = await (
            await client.post("/api/sales", json={"amount": 600, "payment_method": "qr_mpm"})
        ).json()
        await real_cloud.process.stop()
        resp = await client.post(f"/api/sales/{sale['local_id']}/cancel", json={})
        assert resp.status == 503 and (await resp.json())["error"]["code"] == "cloud_unreachable"
        assert (await (await client.get(f"/api/sales/{sale['local_id']}")).json())[
            "status"
        ] == "requires_action"
