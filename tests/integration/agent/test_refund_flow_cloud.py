"""The refund flow offline → online → on the cloud, with the REAL cloud (cloud/) on loopback and the real
agent app over its SQLite file: sales and refunds taken while the cloud is unreachable (a stopped loopback
relay), then synced once; the cloud holds each refund with the right amount and `amount_refunded` on its
intent; the Z report of that day reaches `POST /v1/settlements` and is acked (docs/sync-protocol.md "Refund
items", "Settlements").
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from agent.adapters.secrets import EnrolledDevice, SecretStore, hash_password
from agent.bootstrap import build_app
from agent.deps import Devices
from agent.entrypoints.api.keys import DEPS
from sync.http import CloudSession, DeviceCredential
from sync.testing import ChaosProxy
from tests.integration.agent.conftest import make_settings
from tests.integration.agent.entrypoints.web.test_admin_lockout import RIGHT
from tests.integration.agent.sync_fixtures import RealCloud, cloud  # noqa: F401 -- the fixture

CASH = {"amount": 1000, "payment_method": "cash", "cash_received": 1000}
CARD = {"amount": 2500, "payment_method": "card", "card_result": {
    "status": "approved", "approval_code": "A1", "card_brand": "VISA", "card_last_4": "4242",
    "entry_method": "chip"}}


class Shop:
    """The agent app enrolled at the cloud through a relay that can be switched off (offline) and on."""

    def __init__(self, client: TestClient[Any, Any], relay: ChaosProxy, port: int, real: RealCloud) -> None:
        self.client, self.relay, self.port, self.cloud = client, relay, port, real

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = await self.client.post(path, json=body)
        found: dict[str, Any] = await resp.json()
        assert resp.status == 201, found
        return found

    def db(self, sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.client.app[DEPS].settings.agent.db_path) as conn:
            return list(conn.execute(sql))

    async def cloud_get(self, path: str) -> dict[str, Any]:
        """A GET of the cloud API signed with the device credential."""
        async with CloudSession(self.cloud.url, self.cloud.device) as session:
            reply = await session.request("GET", path)
        assert reply.status == 200, reply.body
        data: dict[str, Any] = json.loads(reply.body)
        return data

    async def sync_until_idle(self) -> dict[str, Any]:
        """Sync now until nothing is pending (the relay may need a moment)."""
        result: dict[str, Any] = {}
        for _ in range(50):
            result = await self.post_sync()
            if result["ok"] and result["pending"] == 0:
                return result
            await asyncio.sleep(0.1)
        raise AssertionError(f"sync did not drain: {result}")

    async def post_sync(self) -> dict[str, Any]:
        """POST /api/sync: one bounded drain of the chain and the queued settlements."""
        resp = await self.client.post("/api/sync", json={})
        body: dict[str, Any] = await resp.json()
        return body


@pytest.fixture
async def shop(tmp_path: Path, cloud: RealCloud) -> AsyncIterator[Shop]:  # noqa: F811
    relay = ChaosProxy("127.0.0.1", cloud.port)
    port = await relay.start()
    await relay.stop()  # offline from the start
    folder = tmp_path / "agent"
    folder.mkdir()
    cred: DeviceCredential = cloud.device
    SecretStore(folder).save(EnrolledDevice(cred.device_id, cred.api_key, cred.secret_key,
                                            cloud_url=f"http://127.0.0.1:{port}",
                                            admin_password_hash=hash_password(RIGHT)))
    settings = make_settings(folder, {"store": {"currencies": ["JPY"]}})
    app = await build_app(settings, devices=Devices(), sync=True)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield Shop(client, relay, port, cloud)
    finally:
        await client.close()
        await relay.stop()


class TestRefundFlow:
    async def test_offline_refunds_reach_the_cloud_once(self, shop: Shop) -> None:
        """Two sales and three refunds offline; online, one sync: the cloud holds each refund once, with
        the amounts refunded per intent, and the agent holds every re_ id; a second sync sends nothing."""
        cash_sale = await shop.post("/api/sales", CASH)
        card_sale = await shop.post("/api/sales", CARD)
        made = [(cash_sale, 300), (cash_sale, 200), (card_sale, 2500)]
        for sale, amount in made:
            refund = await shop.post(f"/api/sales/{sale['local_id']}/refunds",
                                     {"amount": amount, "password": RIGHT, "reason": "customer_return"})
            assert refund["sync_state"] == "queued"
        offline = await shop.post_sync()
        assert not offline["ok"] and offline["pending"] == 5
        await shop.relay.start(shop.port)
        await shop.sync_until_idle()
        rows = shop.db("SELECT sale_local_id, amount, sync_state, cloud_refund_id, cloud_intent_id "
                       "FROM refunds ORDER BY seq")
        assert [(r[1], r[2]) for r in rows] == [(300, "acked"), (200, "acked"), (2500, "acked")]
        assert all(str(r[3]).startswith("re_") and str(r[4]).startswith("pi_") for r in rows)
        pis = dict(shop.db("SELECT local_id, cloud_intent_id FROM sales"))
        for sale, refunded in ((cash_sale, 500), (card_sale, 2500)):
            pi = pis[sale["local_id"]]
            intent = await shop.cloud_get(f"/v1/payment_intents/{pi}")
            assert (intent["amount"], intent["amount_refunded"]) == (sale["amount"], refunded)
            listed = await shop.cloud_get(f"/v1/payment_intents/{pi}/refunds")
            assert sorted(r["amount"] for r in listed["data"]) == sorted(
                a for s, a in made if s is sale)
        again = await shop.post_sync()
        assert (again["sent"], again["pending"]) == (0, 0)

    async def test_z_report_reaches_the_cloud(self, shop: Shop) -> None:
        """A day with a refund closed offline; online, the Z report is posted once and marked acked."""
        sale = await shop.post("/api/sales", CASH)
        await shop.post(f"/api/sales/{sale['local_id']}/refunds", {"amount": 400, "password": RIGHT})
        z = await shop.post("/api/settlement/z", {"password": RIGHT, "cash_counted": 600})
        assert (z["net_amount"], z["cash_expected"], z["refunds"]["total_amount"]) == (600, 600, 400)
        await shop.relay.start(shop.port)
        await shop.sync_until_idle()
        ((state, error),) = shop.db("SELECT sync_state, sync_error FROM settlements")
        assert (state, error) == ("acked", None)
        ((report,),) = await shop.cloud._rows(
            "SELECT report FROM settlements WHERE settlement_id = ?", z["settlement_id"])
        assert '"net_amount":600' in str(report)
