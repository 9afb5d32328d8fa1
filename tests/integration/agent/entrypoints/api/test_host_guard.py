"""DNS-rebinding defence over a real loopback socket: raw HTTP requests with chosen Host headers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.integration.agent.conftest import MakeClient


async def raw_get(port: int, path: str, host: str | None, version: str = "1.1") -> tuple[int, dict[str, Any]]:
    """Send one GET with exactly this Host header (or none) and parse status and JSON body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = f"GET {path} HTTP/{version}\r\n" + (f"Host: {host}\r\n" if host is not None else "")
    writer.write((head + "Connection: close\r\n\r\n").encode("latin-1"))
    await writer.drain()
    data = await reader.read()
    writer.close()
    await writer.wait_closed()
    header, _, body = data.partition(b"\r\n\r\n")
    status = int(header.split(b" ", 2)[1])
    return status, (json.loads(body) if body.startswith(b"{") else {})


class TestHostGuard:
    async def test_only_names_of_this_terminal_are_answered(self, make_client: MakeClient) -> None:
        """Loopback names and listed names → 200; a rebinding name, a look-alike or no Host → 421 JSON."""
        client = await make_client({"web": {"allowed_hosts": ["pos-7.shop.local"]}})
        port = client.port
        assert port is not None
        for host in (f"127.0.0.1:{port}", "localhost", f"[::1]:{port}", "POS-7.shop.local", "localhost."):
            status, _ = await raw_get(port, "/api/status", host)
            assert status == 200, host
        for host in (
            "evil.example",
            f"evil.example:{port}",
            "127.0.0.1.evil.example",
            "localhost.evil",
            "a:b",
        ):
            status, body = await raw_get(port, "/api/status", host)
            assert status == 421, host
            assert body["error"]["code"] == "misdirected_request"
        status, _ = await raw_get(port, "/", None, version="1.0")
        assert status == 421

    async def test_pages_and_sales_are_guarded_too(self, make_client: MakeClient) -> None:
        """The cashier page and a sale POST from a rebinding origin are refused before any handler runs."""
        client = await make_client()
        resp = await client.get("/", headers={"Host": "attacker.example"})
        assert resp.status == 421
        sale = {"amount": 100, "payment_method": "cash", "cash_received": 100}
        resp = await client.post("/api/sales", json=sale, headers={"Host": "attacker.example"})
        assert resp.status == 421
        listing = await (await client.get("/api/sales")).json()
        assert listing["data"] == []
