"""Cross-site request forgery on the loopback agent app: every state-changing route takes same-origin JSON."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from agent.entrypoints.api.same_origin import SAFE_METHODS
from tests.integration.agent.conftest import MakeClient

CASH = '{"amount": 500, "payment_method": "cash", "cash_received": 500}'
EVIL = "http://evil.example"


def state_changing_routes(app: web.Application) -> list[tuple[str, str]]:
    """(method, a concrete path) for every route of the app that is not GET/HEAD/OPTIONS."""
    found = []
    for route in app.router.routes():
        if route.method in SAFE_METHODS:
            continue
        canonical = route.resource.canonical if route.resource is not None else "/"
        found.append((route.method, re.sub(r"\{[^}]+\}", "x", canonical)))
    return found


async def sales_count(client: TestClient[Any, Any]) -> int:
    """How many cash/card sales the agent holds."""
    body = await (await client.get("/api/sales", params={"limit": "100"})).json()
    return len(body["data"])


def own_origin(client: TestClient[Any, Any]) -> str:
    """The origin the agent is reached at in this test (what its own pages send as Origin)."""
    return f"http://127.0.0.1:{client.port}"


class TestEveryStateChangingRoute:
    """Walks the app's router, so a route added later is covered without editing this test."""

    async def test_router_has_the_known_routes(self, make_client: MakeClient) -> None:
        """The walk sees the sale, cancel, sync and admin routes (it is not vacuous)."""
        client = await make_client()
        paths = {path for _m, path in state_changing_routes(client.app)}
        assert {"/api/sales", "/api/sales/x/cancel", "/api/sync", "/api/web/admin/x"} <= paths

    @pytest.mark.parametrize("headers", [
        {"Origin": EVIL},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": EVIL, "Sec-Fetch-Site": "cross-site"},
    ])
    async def test_cross_origin_text_plain_is_refused(self, make_client: MakeClient,
                                                      headers: dict[str, str]) -> None:
        """A cross-origin 'simple' text/plain request gets 403 cross_origin_refused on every route."""
        client = await make_client()
        for method, path in state_changing_routes(client.app):
            resp = await client.request(method, path, data=CASH,
                                        headers={**headers, "Content-Type": "text/plain"})
            body = await resp.json()
            assert (resp.status, body["error"]["code"]) == (403, "cross_origin_refused"), (method, path)
        assert await sales_count(client) == 0

    async def test_cross_origin_json_is_refused_too(self, make_client: MakeClient) -> None:
        """JSON is not enough: with a foreign Origin even application/json is refused (no sale stored)."""
        client = await make_client()
        for method, path in state_changing_routes(client.app):
            resp = await client.request(method, path, data=CASH,
                                        headers={"Origin": EVIL, "Content-Type": "application/json"})
            assert resp.status == 403, (method, path)
        assert await sales_count(client) == 0

    @pytest.mark.parametrize("content_type", [
        "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None,
    ])
    async def test_same_origin_needs_json(self, make_client: MakeClient, content_type: str | None) -> None:
        """Even from the agent's own origin, a body that is not application/json gets 415 json_required."""
        client = await make_client()
        headers = {"Origin": own_origin(client), "Sec-Fetch-Site": "same-origin"}
        if content_type is not None:
            headers["Content-Type"] = content_type
        for method, path in state_changing_routes(client.app):
            resp = await client.request(method, path, data=CASH.encode(), headers=headers)
            body = await resp.json()
            assert (resp.status, body["error"]["code"]) == (415, "json_required"), (method, path)
        assert await sales_count(client) == 0

    async def test_other_methods_are_checked(self, make_client: MakeClient) -> None:
        """PUT, PATCH and DELETE from another origin are refused before routing says 405."""
        client = await make_client()
        for method in ("PUT", "PATCH", "DELETE"):
            resp = await client.request(method, "/api/sales", data=CASH, headers={"Origin": EVIL})
            assert resp.status == 403


class TestWhatStillWorks:
    """The agent's own pages and non-browser clients."""

    async def test_own_page_json_sale(self, make_client: MakeClient) -> None:
        """What the cashier page sends (same Origin, Sec-Fetch-Site same-origin, JSON) records the sale."""
        client = await make_client()
        resp = await client.post("/api/sales", data=CASH, headers={
            "Origin": own_origin(client), "Sec-Fetch-Site": "same-origin",
            "Content-Type": "application/json"})
        assert resp.status == 201
        assert await sales_count(client) == 1

    async def test_localhost_name_and_typed_navigation(self, make_client: MakeClient) -> None:
        """Origin http://localhost:PORT on Host localhost:PORT is own; Sec-Fetch-Site none passes."""
        client = await make_client()
        resp = await client.post("/api/sales", data=CASH, headers={
            "Host": f"localhost:{client.port}", "Origin": f"http://localhost:{client.port}",
            "Sec-Fetch-Site": "none", "Content-Type": "application/json"})
        assert resp.status == 201

    async def test_non_browser_client_without_origin(self, make_client: MakeClient) -> None:
        """curl and the CLI send neither Origin nor Sec-Fetch-Site: JSON passes (sale, sync, cancel)."""
        client = await make_client()
        assert (await client.post("/api/sales", data=CASH,
                                  headers={"Content-Type": "application/json"})).status == 201
        assert (await client.post("/api/sync", json={})).status == 503  # not enrolled: the handler ran
        assert (await client.post("/api/sales/nope/cancel")).status == 415  # a POST is JSON, even empty
        assert (await client.post("/api/sales/nope/cancel", json={})).status == 404

    @pytest.mark.parametrize("origin", [
        "http://127.0.0.1:1", "https://127.0.0.1:{port}", "http://localhost:{port}", "http://127.0.0.1:{port}/x",
        "http://user@127.0.0.1:{port}", "http://[::1]:{port}", "not a url", "http://127.0.0.1:{port}:1",
    ])
    async def test_near_miss_origins(self, make_client: MakeClient, origin: str) -> None:
        """Another port, scheme or host name (Host is 127.0.0.1:PORT), or a malformed Origin, is foreign."""
        client = await make_client()
        resp = await client.post("/api/sales", data=CASH, headers={
            "Origin": origin.format(port=client.port), "Content-Type": "application/json"})
        assert resp.status == 403
        assert await sales_count(client) == 0

    async def test_reads_need_no_origin_check(self, make_client: MakeClient) -> None:
        """GETs from anywhere are answered as before (a foreign page cannot read them: no CORS headers)."""
        client = await make_client()
        resp = await client.get("/api/status", headers={"Origin": EVIL, "Sec-Fetch-Site": "cross-site"})
        assert resp.status == 200 and "Access-Control-Allow-Origin" not in resp.headers
