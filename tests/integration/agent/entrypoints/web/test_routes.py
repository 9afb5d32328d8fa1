"""The web routes on a real loopback agent app: pages, headers, QR SVG and admin request validation."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from agent.adapters.secrets import EnrolledDevice, SecretStore, hash_password
from tests.integration.agent.conftest import MakeClient

PASSWORD = "pw-for-routes"


def enroll(folder: Path) -> None:
    """Write the enrollment record as `mpac-agent enroll` does (hashed admin password)."""
    SecretStore(folder).save(EnrolledDevice("dev_1", "pk_test_1", "sk_test_1", cloud_url="http://127.0.0.1:9",
                                            admin_password_hash=hash_password(PASSWORD)))


class TestPages:
    """The two pages and their static files."""

    async def test_pages_are_local_and_locked_down(self, make_client: MakeClient) -> None:
        """/ and /status are HTML with a same-origin CSP, and reference only local scripts and styles."""
        client = await make_client()
        for path, script in (("/", "/static/cashier.js"), ("/status", "/static/status.js")):
            resp = await client.get(path)
            html = await resp.text()
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/html")
            assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
            assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
            assert f'src="{script}"' in html
            assert "http://" not in html and "https://" not in html
            assert (await client.get(script)).status == 200

    async def test_store_name_is_escaped(self, make_client: MakeClient) -> None:
        """A store name with markup is rendered escaped by the template."""
        client = await make_client({"store": {"name": "<b>Shop</b>"}})
        html = await (await client.get("/")).text()
        assert "&lt;b&gt;Shop&lt;/b&gt;" in html
        assert "<b>Shop</b>" not in html


class TestQrSvg:
    """GET /api/web/qr.svg."""

    async def test_svg_for_content(self, make_client: MakeClient) -> None:
        """A QR payload comes back as a scalable SVG document."""
        client = await make_client()
        resp = await client.get("/api/web/qr.svg", params={"data": "https://qr.example.test/pay/pi_1"})
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("image/svg+xml")
        root = ET.fromstring(await resp.text())  # noqa: S314 -- our own server's output
        assert root.tag.endswith("svg") and root.get("viewBox")

    async def test_missing_or_oversized_data(self, make_client: MakeClient) -> None:
        """No data → 400, over 1024 characters → 422, both as JSON errors."""
        client = await make_client()
        resp = await client.get("/api/web/qr.svg")
        assert (resp.status, (await resp.json())["error"]["param"]) == (400, "data")
        resp = await client.get("/api/web/qr.svg", params={"data": "x" * 1025})
        assert (resp.status, (await resp.json())["error"]["code"]) == (422, "parameter_invalid")


class TestAdminRequests:
    """POST /api/web/admin/{action} input handling."""

    async def test_bad_requests(self, make_client: MakeClient, tmp_path: Path) -> None:
        """Unknown action 404, non-JSON 415, bad job id 422, missing job id 422 (after the password)."""
        enroll(tmp_path / "state")
        client = await make_client()
        assert (await client.post("/api/web/admin/reboot", json={"password": PASSWORD})).status == 404
        resp = await client.post("/api/web/admin/sync_now", data=f"password={PASSWORD}")
        assert resp.status == 415
        resp = await client.post("/api/web/admin/drop", json={"password": PASSWORD, "job_id": "'; DROP"})
        assert (resp.status, (await resp.json())["error"]["param"]) == (422, "job_id")
        resp = await client.post("/api/web/admin/drop", json={"password": PASSWORD})
        assert (resp.status, (await resp.json())["error"]["param"]) == (422, "job_id")

    async def test_action_without_device(self, make_client: MakeClient, tmp_path: Path) -> None:
        """The right password but no printer, no uploader: a clear 409 / 503, not a 500."""
        enroll(tmp_path / "state")
        client = await make_client()
        resp = await client.post("/api/web/admin/test_print", json={"password": PASSWORD})
        assert (resp.status, (await resp.json())["error"]["code"]) == (409, "no_printer")
        resp = await client.post("/api/web/admin/sync_now", json={"password": PASSWORD})
        assert (resp.status, (await resp.json())["error"]["code"]) == (503, "sync_unavailable")

    async def test_support_bundle_has_no_secrets(self, make_client: MakeClient, tmp_path: Path) -> None:
        """The bundle carries config, sync and sales facts but never the device secret or password hash."""
        enroll(tmp_path / "state")
        client = await make_client({"cloud": {"secret_key": "sk_config_secret"}})
        sale = await client.post("/api/sales", json={"amount": 500, "payment_method": "cash",
                                                     "cash_received": 500})
        assert sale.status == 201
        resp = await client.post("/api/web/admin/support_bundle", json={"password": PASSWORD})
        text = await resp.text()
        assert resp.status == 200
        bundle = await resp.json()
        assert bundle["sales_by_sync_state"] == {"queued": 1}
        assert bundle["recent_sales"][0]["amount"] == 500
        for secret in ("sk_test_1", "sk_config_secret", PASSWORD, "scrypt$"):
            assert secret not in text
