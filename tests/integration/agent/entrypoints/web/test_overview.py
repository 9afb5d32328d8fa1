"""The status page's data on a real loopback agent app over a real SQLite file: every sale listed (QR too),
today's totals, the receipt preview from stored ESC/POS bytes, the 24 h history, live events, the log view,
the favicon."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from PIL import Image

from agent.adapters.secrets import EnrolledDevice, SecretStore, hash_password
from agent.adapters.store.database import AgentDatabase
from agent.adapters.store.history import KEEP_MS, MINUTE_MS, read_history, record_minute
from agent.adapters.store.print_jobs import PrintJobs
from agent.adapters.store.qr_mirror import QrMirror
from agent.domain.ports import ReceiptLine, SaleReceipt
from agent.domain.qr_sale import QrSale
from agent.entrypoints.api.keys import DEPS
from drivers.escpos.receipt import build_receipt
from tests.integration.agent.conftest import MakeClient

PASSWORD = "pw-for-overview"


def _db(client: TestClient[Any, Any]) -> AgentDatabase:
    return client.server.app[DEPS].database


async def _cash(client: TestClient[Any, Any], amount: int) -> dict[str, Any]:
    resp = await client.post("/api/sales", json={"amount": amount, "payment_method": "cash",
                                                 "cash_received": amount})
    assert resp.status == 201, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def _qr(client: TestClient[Any, Any], local_id: str, amount: int, status: str, at: int) -> None:
    """A QR sale as the QR flow mirrors it (the cloud part is tested in tests/*/services/qr_sales)."""
    await QrMirror(_db(client)).add(QrSale(local_id, f"ref-{local_id}", at, at, amount, "JPY",
                                           f"pi_{local_id}", status, None, "{}", "qr_mpm", None, "{}"))


class TestEverySaleIsListed:
    """GET /api/sales shows cash, card and QR sales together, newest first."""

    async def test_qr_sales_are_listed_with_method_and_outcome(self, make_client: MakeClient) -> None:
        """A cash sale and a QR sale: both listed, with payment_method and status; the QR filter works."""
        client = await make_client()
        cash = await _cash(client, 500)
        await _qr(client, "qr-1", 800, "succeeded", cash["created_at"] + 1)
        listing = await (await client.get("/api/sales")).json()
        assert [(s["payment_method"], s["status"]) for s in listing["data"]] == [
            ("qr_mpm", "succeeded"), ("cash", "succeeded")]
        only_qr = await (await client.get("/api/sales?payment_method=qr_mpm")).json()
        assert [s["local_id"] for s in only_qr["data"]] == ["qr-1"]
        synced = await (await client.get("/api/sales?sync_state=queued")).json()
        assert [s["local_id"] for s in synced["data"]] == [cash["local_id"]]

    async def test_pages_cross_both_tables(self, make_client: MakeClient) -> None:
        """limit=1 pages walk QR and cash sales in one order, with has_more until the end."""
        client = await make_client()
        first = await _cash(client, 100)
        await _qr(client, "qr-2", 200, "failed", first["created_at"] + 1)
        second = await _cash(client, 300)
        seen, cursor = [], ""
        while True:
            page = await (await client.get(f"/api/sales?limit=1{cursor}")).json()
            seen.extend(s["local_id"] for s in page["data"])
            if not page["has_more"]:
                break
            cursor = f"&starting_after={page['data'][-1]['local_id']}"
        assert seen == [second["local_id"], "qr-2", first["local_id"]]


class TestOverview:
    """GET /api/web/overview: who the terminal is and what it did today."""

    async def test_identity_and_today_per_method(self, make_client: MakeClient) -> None:
        """Identity names the store, serial, version and cloud; today counts succeeded sales per method."""
        client = await make_client()
        cash = await _cash(client, 1000)
        await _cash(client, 2000)
        await _qr(client, "qr-3", 700, "succeeded", cash["created_at"])
        await _qr(client, "qr-4", 900, "cancelled", cash["created_at"])
        body = await (await client.get("/api/web/overview")).json()
        ident = body["identity"]
        assert (ident["store_name"], ident["serial"]) == ("Test Store", "IT-1")
        assert ident["timezone"] == "Asia/Tokyo"
        assert ident["cloud_url"].startswith("http://127.0.0.1:")
        assert ident["certificate"]["state"] == "plain_http"
        assert ident["version"] and ident["uptime_s"] >= 0
        assert isinstance(ident["addresses"], list)
        today = body["today"]["by_method"]
        assert today["cash"] == {"count": 2, "amount": {"JPY": 3000}}
        assert today["qr_mpm"] == {"count": 1, "amount": {"JPY": 700}}
        assert today["card"]["count"] == 0
        assert {s["local_id"] for s in body["recent_sales"]} >= {"qr-3", "qr-4", cash["local_id"]}
        assert body["history"][-1]["taken"] == 4

    async def test_day_follows_the_store_time_zone(self, make_client: MakeClient) -> None:
        """At 23:30 UTC it is already the next day in Tokyo: the overview's date is Tokyo's."""
        now = 1_717_284_600_000  # 2024-06-01 23:30 UTC = 2024-06-02 08:30 JST
        client = await make_client(clock_ms=lambda: now)
        body = await (await client.get("/api/web/overview")).json()
        assert body["today"]["date"] == "2024-06-02"
        assert body["today"]["from"] == 1_717_254_000_000  # 2024-06-02 00:00 JST


class TestReceiptPreview:
    """The last receipt as a PNG drawn from the bytes stored for the printer."""

    async def test_png_of_the_last_receipt(self, make_client: MakeClient) -> None:
        """No receipt yet: 404; after one is queued, a receipt-sized PNG of that job."""
        client = await make_client()
        assert (await client.get("/api/web/receipt.png")).status == 404
        receipt = SaleReceipt("sale-1", 1, "Test Store", 1_700_000_000_000, "JPY", 1200, 109, "cash",
                              (ReceiptLine("コーヒー", 2, 1200),), cash_received=2000, change=800)
        job = await PrintJobs(_db(client), "printer").insert("pj_01HZZZZZZZZZZZZZZZZZZZZZZZ",
                                                             build_receipt(receipt), "receipt", "sale-1", 1)
        resp = await client.get("/api/web/receipt.png")
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "image/png"
        assert resp.headers["X-Receipt-Job"] == job
        image = Image.open(io.BytesIO(await resp.read()))
        assert image.width == 512 and image.height > 300  # many printed lines, not an empty strip
        overview = await (await client.get("/api/web/overview")).json()
        assert overview["last_receipt"]["receipt_id"] == "sale-1"


class TestHistory:
    """One row a minute, written through the writer, pruned after 24 h."""

    async def test_minutes_are_kept_for_24_hours(self, make_client: MakeClient) -> None:
        """A row older than 24 h is pruned by the next sample; the current minute is read live."""
        client = await make_client()
        db = _db(client)
        now = 1_800_000_000_000 - 1_800_000_000_000 % MINUTE_MS
        await record_minute(db, now - KEEP_MS - MINUTE_MS)
        await record_minute(db, now - 5 * MINUTE_MS)
        await record_minute(db, now)
        rows = await db.fetch_all("SELECT minute FROM activity_history ORDER BY minute")
        assert [r[0] for r in rows] == [now - 5 * MINUTE_MS, now]
        points = await read_history(db, now + 1000)
        assert [p["minute"] for p in points] == [now - 5 * MINUTE_MS, now]


class TestLiveAndSmallThings:
    """Server-Sent Events, the favicon, the admin log view."""

    async def test_event_stream_sends_status_and_overview(self, make_client: MakeClient) -> None:
        """GET /api/web/events is text/event-stream and starts with a status and an overview event."""
        client = await make_client()
        resp = await client.get("/api/web/events")
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        events: dict[str, Any] = {}
        while len(events) < 2:
            line = (await resp.content.readline()).decode()
            if line.startswith("event: "):
                name = line.split(" ", 1)[1].strip()
                data = (await resp.content.readline()).decode()
                events[name] = json.loads(data.split(" ", 1)[1])
        assert events["status"]["status"]["object"] == "status"
        assert "devices" in events["status"]["web"]
        assert events["overview"]["object"] == "overview"
        resp.close()

    async def test_favicon(self, make_client: MakeClient) -> None:
        """/favicon.ico answers an SVG icon (no more 404 on both pages)."""
        client = await make_client()
        resp = await client.get("/favicon.ico")
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "image/svg+xml"
        assert (await resp.text()).startswith("<svg")

    async def test_log_view_hides_secrets_and_card_numbers(self, make_client: MakeClient,
                                                           tmp_path: Path) -> None:
        """Behind the admin password: recent lines, with secret values and card numbers masked."""
        folder = tmp_path / "state"
        SecretStore(folder).save(EnrolledDevice("dev_1", "pk_test_1", "sk_test_1", cloud_url="http://127.0.0.1:9",
                                                admin_password_hash=hash_password(PASSWORD)))
        client = await make_client(folder=folder)
        logging.getLogger("agent.test").warning(
            "card 4111 1111 1111 1111 secret_key=sk_live_abcdefgh password: hunter2 auth HMAC-SHA256 pk:1:ff")
        refused = await client.post("/api/web/admin/logs", json={"password": "wrong"})
        assert refused.status == 401
        resp = await client.post("/api/web/admin/logs", json={"password": PASSWORD})
        assert resp.status == 200
        body = await resp.json()
        [line] = [x for x in body["lines"] if "agent.test" in x]
        assert "************1111" in line
        for secret in ("4111 1111 1111 1111", "sk_live_abcdefgh", "hunter2", "pk:1:ff"):
            assert secret not in line
        assert "最近のログ" in body["message"] and "log lines" in body["message"]
