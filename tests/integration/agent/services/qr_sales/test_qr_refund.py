"""QR refunds against the REAL cloud process: made online through `POST /v1/payment_intents/{id}/refunds`
with the device credential, then kept locally (sync_state 'online'); the cloud's intent shows the amount
refunded; the X report counts the QR sale under its provider and the refunds; a refund above what is left, or
one while the cloud is away, is refused with nothing written."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.test_utils import TestClient

from agent.adapters.secrets import EnrolledDevice, SecretStore, hash_password
from sync.signing import authorization_header
from sync.testing.proxy import ChaosConfig, ChaosProxy
from tests.integration.agent.services.qr_sales.conftest import RealCloud, StartAgent

PIN = "pin-for-qr-refunds"


async def _agent(real_cloud: RealCloud, start_agent: StartAgent, tmp_path: Path,
                 cloud_url: str | None = None) -> TestClient[Any, Any]:
    state = tmp_path / "state"
    state.mkdir()
    cred = real_cloud.cred
    SecretStore(state).save(EnrolledDevice(cred.device_id, cred.api_key, cred.secret_key,
                                           cloud_url=cloud_url or real_cloud.url,
                                           admin_password_hash=hash_password(PIN)))
    client, _ = await start_agent({"store": {"currencies": ["JPY"]}})
    return client


async def _refund(client: TestClient[Any, Any], local_id: str, amount: int,
                  **extra: Any) -> tuple[int, dict[str, Any]]:
    resp = await client.post(f"/api/sales/{local_id}/refunds",
                             json={"amount": amount, "password": PIN, **extra})
    return resp.status, await resp.json()


def _count(tmp_path: Path) -> int:
    with sqlite3.connect(tmp_path / "state" / "agent.sqlite3") as conn:
        return int(conn.execute("SELECT COUNT(*) FROM refunds").fetchone()[0])


class TestQrRefund:
    async def test_partial_refunds_online_then_offline_refused(
        self, real_cloud: RealCloud, start_agent: StartAgent, tmp_path: Path
    ) -> None:
        """500 then 700 of a 1200 CPM sale are refunded on the cloud; 1 more is 409 locally; offline 503."""
        client = await _agent(real_cloud, start_agent, tmp_path)
        body = {"amount": 1200, "payment_method": "qr_cpm", "merchant_ref_id": "cpm-r1",
                "customer_code": "2849AB77"}
        sale = await (await client.post("/api/sales", json=body)).json()
        assert sale["status"] == "succeeded", sale
        status, first = await _refund(client, sale["local_id"], 500)
        assert status == 201, first
        assert first["sync_state"] == "online" and str(first["cloud_refund_id"]).startswith("re_")
        assert (await real_cloud.intent(sale["cloud_intent_id"]))["amount_refunded"] == 500
        status, over = await _refund(client, sale["local_id"], 701)
        assert (status, over["error"]["code"]) == (409, "refund_exceeds_remaining")
        status, _rest = await _refund(client, sale["local_id"], 700)
        assert status == 201
        intent = await real_cloud.intent(sale["cloud_intent_id"])
        assert intent["amount_refunded"] == 1200
        assert _count(tmp_path) == 2
        x = await (await client.get("/api/settlement/x")).json()
        qr = x["payment_method_breakdown"]["qr"]
        assert qr["by_method"] == {intent["provider"]: {"transaction_count": 1, "total_amount": 1200}}
        assert x["refunds"]["by_method"]["qr"] == {"transaction_count": 2, "total_amount": 1200}
        assert x["net_amount"] == 0

        second = {**body, "merchant_ref_id": "cpm-r2"}
        other = await (await client.post("/api/sales", json=second)).json()
        await real_cloud.process.stop()
        status, away = await _refund(client, other["local_id"], 100)
        assert (status, away["error"]["code"]) == (503, "refund_needs_network")
        assert _count(tmp_path) == 2

    async def test_a_lost_answer_then_a_retry_with_its_reference_is_one_refund(
        self, real_cloud: RealCloud, start_agent: StartAgent, tmp_path: Path
    ) -> None:
        """The cloud makes the refund and its answer is lost on the way back (a loopback proxy swallows it):
        the agent says it may have been made and names the reference; the manager's retry under it is the
        same refund at the cloud, recorded once here."""
        proxy = ChaosProxy("127.0.0.1", int(str(urlsplit(real_cloud.url).port)))
        await proxy.start()
        try:
            client = await _agent(real_cloud, start_agent, tmp_path, f"http://127.0.0.1:{proxy.port}")
            body = {"amount": 1200, "payment_method": "qr_cpm", "merchant_ref_id": "cpm-lost-1",
                    "customer_code": "2849AB77"}
            sale = await (await client.post("/api/sales", json=body)).json()
            assert sale["status"] == "succeeded", sale
            proxy.config = ChaosConfig(swallow=1.0, max_faults=1 + proxy.stats.swallowed)
            status, lost = await _refund(client, sale["local_id"], 500)
            assert (status, lost["error"]["code"]) == (503, "refund_needs_network"), lost
            assert proxy.stats.swallowed == 1
            found = re.search(r"merchant_refund_id '([^']+)'", lost["error"]["message"])
            assert found is not None and "may have been made" in lost["error"]["message"]
            assert (await real_cloud.intent(sale["cloud_intent_id"]))["amount_refunded"] == 500
            assert _count(tmp_path) == 0
            status, again = await _refund(client, sale["local_id"], 500, merchant_refund_id=found.group(1))
            assert status == 201, again
            assert str(again["cloud_refund_id"]).startswith("re_")
            assert (await real_cloud.intent(sale["cloud_intent_id"]))["amount_refunded"] == 500
            assert _count(tmp_path) == 1
        finally:
            await proxy.stop()

    async def test_a_refund_the_cloud_refuses_keeps_its_code_and_writes_nothing(
        self, real_cloud: RealCloud, start_agent: StartAgent, tmp_path: Path
    ) -> None:
        """Another system refunds 400 of a 1200 QR sale on the cloud itself; the terminal, not knowing, asks
        for 900: the cloud refuses, and the manager sees the cloud's reason, 409 refund_exceeds_remaining."""
        client = await _agent(real_cloud, start_agent, tmp_path)
        body = {"amount": 1200, "payment_method": "qr_cpm", "merchant_ref_id": "cpm-r3",
                "customer_code": "2849AB77"}
        sale = await (await client.post("/api/sales", json=body)).json()
        assert sale["status"] == "succeeded", sale
        elsewhere = await _cloud_refund(real_cloud, str(sale["cloud_intent_id"]), 400)
        assert elsewhere["status"] == "succeeded", elsewhere
        status, refused = await _refund(client, sale["local_id"], 900)
        assert (status, refused["error"]["code"]) == (409, "refund_exceeds_remaining"), refused
        assert "refused this refund" in refused["error"]["message"]
        assert _count(tmp_path) == 0
        assert (await real_cloud.intent(sale["cloud_intent_id"]))["amount_refunded"] == 400
        status, _rest = await _refund(client, sale["local_id"], 800)
        assert status == 201


async def _cloud_refund(real_cloud: RealCloud, intent_id: str, amount: int) -> dict[str, Any]:
    """A refund made on the cloud directly (signed with the device's key), not through the agent."""
    path = f"/v1/payment_intents/{intent_id}/refunds"
    raw = json.dumps({"amount": amount}).encode()
    auth = authorization_header(real_cloud.cred.api_key, real_cloud.cred.secret_key, "POST", path,
                                int(time.time()), raw)
    headers = {"Authorization": auth, "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as session, session.post(real_cloud.url + path, data=raw,
                                                                headers=headers) as resp:
        answer: dict[str, Any] = await resp.json()
    assert resp.status == 201, answer
    return answer
