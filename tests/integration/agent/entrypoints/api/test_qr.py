"""QR MPM sales: created and confirmed on the cloud with the device credential; refused offline."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from sync.signing import parse_authorization, secret_key_hash, verify, within_window
from tests.integration.agent.conftest import MakeClient

DEVICE = {"device_id": "dev_qr", "api_key": "pk_qr_device", "secret_key": "sk_qr_device_secret"}


class FakeCloud:
    """Stands in for the mpac-pgw cloud being built concurrently (cloud/): the three PaymentIntent calls a QR
    MPM sale makes, each checked against the HMAC of docs/cloud-api.md, as the real gateway must."""

    def __init__(self) -> None:
        self.intents: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str, str | None]] = []
        self.idempotent: dict[str, dict[str, Any]] = {}
        app = web.Application()
        app.router.add_post("/v1/payment_intents", self.create)
        app.router.add_post("/v1/payment_intents/{id}/confirm", self.confirm)
        app.router.add_get("/v1/payment_intents/{id}", self.get)
        self.app = app

    async def _authorized(self, request: web.Request) -> bytes:
        raw = await request.read()
        parsed = parse_authorization(request.headers.get("Authorization", ""))
        ok = (
            parsed.api_key == DEVICE["api_key"]
            and within_window(parsed.timestamp, time.time())
            and verify(secret_key_hash(DEVICE["secret_key"]), parsed, request.method, request.path, raw)
        )
        if not ok:
            raise web.HTTPUnauthorized(
                text='{"error": {"code": "invalid_signature"}}', content_type="application/json"
            )
        self.calls.append((request.method, request.path, request.headers.get("Idempotency-Key")))
        return raw

    async def create(self, request: web.Request) -> web.Response:
        body = json.loads(await self._authorized(request))
        key = request.headers["Idempotency-Key"]
        if key not in self.idempotent:
            intent = {"id": f"pi_{len(self.intents) + 1:026d}", "status": "requires_payment_method", **body}
            self.intents[intent["id"]] = intent
            self.idempotent[key] = intent
        return web.json_response(self.idempotent[key], status=201)

    async def confirm(self, request: web.Request) -> web.Response:
        await self._authorized(request)
        intent = self.intents[request.match_info["id"]]
        intent.update(status="requires_action", qr_content=f"https://qr.example/pay/{intent['id']}")
        return web.json_response(intent)

    async def get(self, request: web.Request) -> web.Response:
        await self._authorized(request)
        return web.json_response(self.intents[request.match_info["id"]])


async def serve(cloud: FakeCloud) -> TestServer:
    """The fake cloud on a loopback port."""
    server = TestServer(cloud.app, host="127.0.0.1", port=0)
    await server.start_server()
    return server


QR = {"amount": 1500, "payment_method": "qr_mpm", "merchant_ref_id": "qr-1"}


class TestQrOnline:
    async def test_created_and_confirmed_with_signed_requests(
        self, make_client: MakeClient, tmp_path: Path
    ) -> None:
        """201 with qr_content; both cloud calls carry a valid HMAC and Idempotency-Key; not in the chain."""
        cloud = FakeCloud()
        server = await serve(cloud)
        try:
            client = await make_client({"cloud": {**DEVICE, "url": str(server.make_url("")).rstrip("/")}})
            resp = await client.post("/api/sales", json=QR)
            body = await resp.json()
        finally:
            await server.close()
        assert resp.status == 201
        assert body["qr_content"] == f"https://qr.example/pay/{body['cloud_intent_id']}"
        assert body["status"] == "requires_action" and body["payment_method_type"] == "qr_mpm"
        assert [c[:2] for c in cloud.calls] == [
            ("POST", "/v1/payment_intents"),
            ("POST", f"/v1/payment_intents/{body['cloud_intent_id']}/confirm"),
        ]
        assert all(c[2] for c in cloud.calls)
        (intent,) = cloud.intents.values()
        assert (intent["amount"], intent["processing_mode"], intent["merchant_ref_id"]) == (
            1500,
            "pgw_processed",
            "qr-1",
        )
        with sqlite3.connect(tmp_path / "state" / "agent.sqlite3") as conn:
            assert conn.execute("SELECT COUNT(*) FROM sales").fetchone() == (0,)

    async def test_retry_returns_the_same_qr_and_get_refreshes(self, make_client: MakeClient) -> None:
        """The same reference answers 200 with the first intent (no new cloud call); GET picks up success."""
        cloud = FakeCloud()
        server = await serve(cloud)
        try:
            client = await make_client({"cloud": {**DEVICE, "url": str(server.make_url("")).rstrip("/")}})
            first = await (await client.post("/api/sales", json=QR)).json()
            again = await client.post("/api/sales", json=QR)
            assert again.status == 200 and (await again.json())["local_id"] == first["local_id"]
            assert len(cloud.calls) == 2
            cloud.intents[first["cloud_intent_id"]]["status"] = "succeeded"
            got = await (await client.get(f"/api/sales/{first['local_id']}")).json()
        finally:
            await server.close()
        assert got["status"] == "succeeded"

    async def test_wrong_secret_is_reported_not_crashed(self, make_client: MakeClient) -> None:
        """A credential the cloud refuses answers 502 cloud_refused with the cloud's reason."""
        cloud = FakeCloud()
        server = await serve(cloud)
        try:
            client = await make_client(
                {"cloud": {**DEVICE, "secret_key": "sk_wrong", "url": str(server.make_url("")).rstrip("/")}}
            )
            resp = await client.post("/api/sales", json=QR)
        finally:
            await server.close()
        assert resp.status == 502 and (await resp.json())["error"]["code"] == "cloud_refused"


class TestQrOffline:
    async def test_refused_with_a_clear_message(self, make_client: MakeClient, tmp_path: Path) -> None:
        """Enrolled, cloud unreachable: 503 cloud_unreachable telling the cashier to take cash or card."""
        client = await make_client({"cloud": DEVICE})
        resp = await client.post("/api/sales", json=QR)
        err = (await resp.json())["error"]
        assert resp.status == 503 and err["code"] == "cloud_unreachable"
        assert "cash or card" in err["message"]
        with sqlite3.connect(tmp_path / "state" / "agent.sqlite3") as conn:
            assert conn.execute(
                "SELECT (SELECT COUNT(*) FROM sales) + (SELECT COUNT(*) FROM qr_sales)"
            ).fetchone() == (0,)

    async def test_not_enrolled(self, make_client: MakeClient) -> None:
        """Without a device credential QR is refused with not_enrolled; cash still works."""
        client = await make_client()
        resp = await client.post("/api/sales", json=QR)
        assert resp.status == 503 and (await resp.json())["error"]["code"] == "not_enrolled"
        cash = {"amount": 100, "payment_method": "cash", "cash_received": 100}
        assert (await client.post("/api/sales", json=cash)).status == 201
