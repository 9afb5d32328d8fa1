"""QR CPM against the REAL cloud process: the customer's code from the request or the next scan on a pty."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from drivers.simulators.rig import SimulatorRig
from tests.integration.agent.services.qr_sales.conftest import RealCloud, StartAgent


async def _poll(
    client: TestClient[Any, Any], local_id: str, until: tuple[str, ...], within: float = 10.0
) -> dict[str, Any]:
    """GET the sale until its status is one of `until` (TimeoutError otherwise)."""
    async with asyncio.timeout(within):
        while True:
            body: dict[str, Any] = await (await client.get(f"/api/sales/{local_id}")).json()
            if body["status"] in until:
                return body
            await asyncio.sleep(0.05)


def _scanner_only(sims: SimulatorRig) -> dict[str, Any]:
    return {"scanner": sims.devices_config()["scanner"]}


class TestCodeInRequest:
    async def test_code_pays_and_cloud_agrees(
        self, real_cloud: RealCloud, start_agent: StartAgent, tmp_path: Path
    ) -> None:
        """customer_code in the request → 201 succeeded; the cloud's own intent is a succeeded qr_cpm."""
        client, _ = await start_agent({"cloud": real_cloud.cloud_table()})
        resp = await client.post(
            "/api/sales",
            json={
                "amount": 1200,
                "payment_method": "qr_cpm",
                "merchant_ref_id": "cpm-1",
                "customer_code": "2849AB77",
            },
        )
        body = await resp.json()
        assert resp.status == 201, body
        assert (body["status"], body["payment_method"], body["awaiting_scan"]) == (
            "succeeded",
            "qr_cpm",
            False,
        )
        intent = await real_cloud.intent(body["cloud_intent_id"])
        assert (intent["status"], intent["payment_method_type"], intent["amount"]) == (
            "succeeded",
            "qr_cpm",
            1200,
        )
        with sqlite3.connect(tmp_path / "state" / "agent.sqlite3") as conn:
            assert conn.execute("SELECT COUNT(*) FROM sales").fetchone() == (0,)  # outside the offline chain
            assert conn.execute("SELECT status, payment_method FROM qr_sales").fetchall() == [
                ("succeeded", "qr_cpm")
            ]
        again = await client.post(
            "/api/sales",
            json={
                "amount": 1200,
                "payment_method": "qr_cpm",
                "merchant_ref_id": "cpm-1",
                "customer_code": "2849AB77",
            },
        )
        assert again.status == 200 and (await again.json())["local_id"] == body["local_id"]

    async def test_declined_code_fails(self, real_cloud: RealCloud, start_agent: StartAgent) -> None:
        """A code the provider declines (SIMFAIL…) → 201 failed with the provider's failure code."""
        client, _ = await start_agent({"cloud": real_cloud.cloud_table()})
        resp = await client.post(
            "/api/sales", json={"amount": 900, "payment_method": "qr_cpm", "customer_code": "SIMFAIL-0001"}
        )
        body = await resp.json()
        assert resp.status == 201 and body["status"] == "failed"
        assert body["failure_code"] == "provider_declined"
        assert (await real_cloud.intent(body["cloud_intent_id"]))["status"] == "failed"

    async def test_bad_codes_and_fields_refused(self, real_cloud: RealCloud, start_agent: StartAgent) -> None:
        """Spaces, controls, over-long codes → 422 on customer_code; no scanner and no code → 422."""
        client, _ = await start_agent({"cloud": real_cloud.cloud_table()})
        for code in ("has space", "tab\tcode", "x" * 257, "", "ｺｰﾄﾞ"):
            resp = await client.post(
                "/api/sales", json={"amount": 100, "payment_method": "qr_cpm", "customer_code": code}
            )
            err = (await resp.json())["error"]
            assert (resp.status, err["param"]) == (422, "customer_code"), code
        resp = await client.post(
            "/api/sales",
            json={"amount": 100, "payment_method": "cash", "cash_received": 100, "customer_code": "ABC"},
        )
        assert (await resp.json())["error"]["code"] == "unexpected_field"
        resp = await client.post("/api/sales", json={"amount": 100, "payment_method": "qr_cpm"})
        assert resp.status == 422 and (await resp.json())["error"]["code"] == "customer_code_required"

    async def test_offline_refused_clearly(self, start_agent: StartAgent, tmp_path: Path) -> None:
        """Enrolled but the cloud is unreachable → 503 cloud_unreachable, nothing stored."""
        client, _ = await start_agent({"cloud": {"device_id": "d", "api_key": "pk_x", "secret_key": "sk_x"}})
        resp = await client.post(
            "/api/sales", json={"amount": 100, "payment_method": "qr_cpm", "customer_code": "ABC123"}
        )
        err = (await resp.json())["error"]
        assert resp.status == 503 and err["code"] == "cloud_unreachable" and "cash or card" in err["message"]
        with sqlite3.connect(tmp_path / "state" / "agent.sqlite3") as conn:
            assert conn.execute("SELECT COUNT(*) FROM qr_sales").fetchone() == (0,)


class TestCodeFromScanner:
    async def test_next_scan_pays_stale_and_garbage_ignored(
        self, real_cloud: RealCloud, start_agent: StartAgent, sims: SimulatorRig
    ) -> None:
        """A scan before the sale is dropped; garbage and over-long codes skipped; the next good scan pays."""
        client, ctx = await start_agent({"cloud": real_cloud.cloud_table()}, _scanner_only(sims))
        sims.scanner.emit("SIMFAIL-STALE")  # scanned before the sale: must not decline it
        status = ctx.status_providers["qr_cpm"]
        async with asyncio.timeout(5):
            while (await status())["dropped_scans"] < 1:  # noqa: ASYNC110 - polls the agent
                await asyncio.sleep(0.02)
        resp = await client.post("/api/sales", json={"amount": 700, "payment_method": "qr_cpm"})
        body = await resp.json()
        assert resp.status == 201 and body["awaiting_scan"] is True
        assert body["status"] == "requires_payment_method"
        sims.scanner.emit_raw(b"\x01\x02\xff\r\n")
        sims.scanner.emit("A" * 300)
        sims.scanner.emit("CUSTOMER-OK-42")
        paid = await _poll(client, body["local_id"], ("succeeded", "failed", "cancelled"))
        assert paid["status"] == "succeeded" and paid["awaiting_scan"] is False
        assert (await real_cloud.intent(body["cloud_intent_id"]))["status"] == "succeeded"
        assert (await status())["rejected_scans"] >= 1

    async def test_no_scan_within_the_wait_cancels(
        self, real_cloud: RealCloud, start_agent: StartAgent, sims: SimulatorRig
    ) -> None:
        """Nothing scanned within cpm_scan_timeout_s → cancelled (scan_timeout) here and on the cloud."""
        client, _ = await start_agent(
            {"cloud": real_cloud.cloud_table(cpm_scan_timeout_s=0.3)}, _scanner_only(sims)
        )
        body = await (
            await client.post("/api/sales", json={"amount": 500, "payment_method": "qr_cpm"})
        ).json()
        done = await _poll(client, body["local_id"], ("succeeded", "failed", "cancelled"))
        assert (done["status"], done["failure_code"]) == ("cancelled", "scan_timeout")
        assert (await real_cloud.intent(body["cloud_intent_id"]))["status"] == "cancelled"

    async def test_second_waiting_sale_refused(
        self, real_cloud: RealCloud, start_agent: StartAgent, sims: SimulatorRig
    ) -> None:
        """While one sale waits for the scanner another qr_cpm sale without a code gets 409 scanner_busy."""
        client, _ = await start_agent({"cloud": real_cloud.cloud_table()}, _scanner_only(sims))
        first = await client.post("/api/sales", json={"amount": 500, "payment_method": "qr_cpm"})
        assert first.status == 201
        second = await client.post("/api/sales", json={"amount": 600, "payment_method": "qr_cpm"})
        assert second.status == 409 and (await second.json())["error"]["code"] == "scanner_busy"
