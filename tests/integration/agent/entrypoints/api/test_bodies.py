"""Hostile JSON bodies on every route of the loopback agent app that parses one: 400/413, never a 500."""

from __future__ import annotations

import pytest

from tests.integration.agent.conftest import MakeClient

JSON_ROUTES = ("/api/sales", "/api/sales/x/cancel", "/api/sync", "/api/web/admin/sync_now")


class TestDeepAndLargeBodies:
    """Nesting depth and size are bounded before json.loads runs."""

    @pytest.mark.parametrize("path", JSON_ROUTES)
    @pytest.mark.parametrize(("opening", "closing", "levels"), [("[", "]", 30_000), ('{"a":', "}", 10_000)])
    async def test_thirty_thousand_levels(self, make_client: MakeClient, path: str, opening: str,
                                          closing: str, levels: int) -> None:
        """30,000 levels of arrays (10,000 of objects: 64 KiB) → 400 json_too_deep, not a RecursionError."""
        client = await make_client()
        body = opening * levels + "1" + closing * levels
        resp = await client.post(path, data=body, headers={"Content-Type": "application/json"})
        error = (await resp.json())["error"]
        assert (resp.status, error["code"]) == (400, "json_too_deep")
        assert "32 levels" in error["message"]

    async def test_deep_inside_an_object_field(self, make_client: MakeClient) -> None:
        """A sale whose metadata nests 1,000 deep is refused 400 too."""
        client = await make_client()
        body = '{"amount": 1, "payment_method": "cash", "metadata": ' + "[" * 1000 + "]" * 1000 + "}"
        resp = await client.post("/api/sales", data=body, headers={"Content-Type": "application/json"})
        assert resp.status == 400

    @pytest.mark.parametrize("path", JSON_ROUTES)
    async def test_too_large(self, make_client: MakeClient, path: str) -> None:
        """A body over 64 KiB → 413 as a JSON error."""
        client = await make_client()
        resp = await client.post(path, data=b"[" + b"1," * 40_000 + b"1]",
                                 headers={"Content-Type": "application/json"})
        assert resp.status == 413
        assert (await resp.json())["error"]["code"]

    @pytest.mark.parametrize("path", JSON_ROUTES)
    @pytest.mark.parametrize("body", ["", "not json", "[1, 2]", '"text"', "\xff\xfe"])
    async def test_not_an_object(self, make_client: MakeClient, path: str, body: str) -> None:
        """Empty (where parameters are needed), malformed or non-object bodies → 400 invalid_json."""
        client = await make_client()
        resp = await client.post(path, data=body.encode("latin-1"),
                                 headers={"Content-Type": "application/json"})
        if body == "" and path in ("/api/sales/x/cancel", "/api/sync"):
            assert resp.status in (404, 503)  # an empty body is allowed there; the handler ran
            return
        assert (resp.status, (await resp.json())["error"]["code"]) == (400, "invalid_json")

    async def test_brackets_inside_strings_do_not_count(self, make_client: MakeClient) -> None:
        """A reference full of brackets is text, not nesting: the sale is taken."""
        client = await make_client()
        sale = {"amount": 1, "payment_method": "cash", "cash_received": 1,
                "metadata": {"note": "[" * 60 + '\\"{' * 30}}
        resp = await client.post("/api/sales", json=sale)
        assert resp.status == 201
