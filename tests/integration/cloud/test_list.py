"""GET /v1/payment_intents: cursor pagination, filters and parameter validation."""

from __future__ import annotations

import pytest

from cloud.domain import commands as c
from cloud.service import tenants as t
from cloud.testing import PgwClient, SettableClock, Tenant

from .conftest import Pgw
from .helpers import create

PATH = "/v1/payment_intents"


async def walk(client: PgwClient, query: str = "") -> list[list[str]]:
    """Every page of ids, following starting_after until has_more is false (bounded)."""
    pages: list[list[str]] = []
    cursor = ""
    for _ in range(50):
        resp = await client.get(f"{PATH}?limit=10{query}{cursor}")
        assert resp.status == 200, resp.body
        assert resp.body["object"] == "list"
        pages.append([i["id"] for i in resp.body["data"]])
        if not resp.body["has_more"]:
            return pages
        cursor = f"&starting_after={pages[-1][-1]}"
    raise AssertionError("pagination did not end")


class TestPagination:
    async def test_pages_cover_everything_once_newest_first(self, pgw: Pgw, client: PgwClient) -> None:
        """25 intents come back as pages of 10, 10, 5, newest first, no duplicates."""
        made = [(await create(client))["id"] for _ in range(25)]
        pages = await walk(client)
        assert [len(p) for p in pages] == [10, 10, 5]
        flat = [i for p in pages for i in p]
        assert flat == sorted(made, reverse=True)

    async def test_default_limit_is_10(self, pgw: Pgw, client: PgwClient) -> None:
        """Without limit a page holds 10."""
        for _ in range(11):
            await create(client)
        resp = await client.get(PATH)
        assert (len(resp.body["data"]), resp.body["has_more"]) == (10, True)

    async def test_exact_page_has_no_more(self, pgw: Pgw, client: PgwClient) -> None:
        """has_more is false when the last page is exactly full."""
        for _ in range(10):
            await create(client)
        assert [len(p) for p in await walk(client)] == [10]

    @pytest.mark.parametrize(
        "query",
        [
            "limit=0",
            "limit=101",
            "limit=abc",
            "limit=-1",
            "starting_after=pi_bad",
            "status=done",
            "created_gte=yesterday",
            "created_lte=99999999999999999999",
            "unknown=1",
        ],
    )
    async def test_bad_parameters_are_400(self, pgw: Pgw, client: PgwClient, query: str) -> None:
        """Out-of-range or malformed query parameters are 400 with the parameter named."""
        resp = await client.get(f"{PATH}?{query}")
        assert resp.status == 400, resp.body
        assert resp.body["error"]["param"] == query.split("=", maxsplit=1)[0]


class TestFilters:
    async def test_status_filter(self, pgw: Pgw, client: PgwClient) -> None:
        """status= returns only intents in that state."""
        kept = await create(client)
        gone = await create(client)
        await client.post(f"{PATH}/{gone['id']}/cancel", {})
        ids = [i["id"] for i in (await client.get(f"{PATH}?status=cancelled")).body["data"]]
        assert ids == [gone["id"]]
        ids = [i["id"] for i in (await client.get(f"{PATH}?status=requires_payment_method")).body["data"]]
        assert ids == [kept["id"]]

    async def test_store_filter(self, pgw: Pgw, client: PgwClient, tenant: Tenant) -> None:
        """merchant_store_id= narrows to one store code."""
        await t.create_store(
            c.CreateStore(tenant.merchant_id, "store_002"), tenants=pgw.deps.tenants, clock=pgw.deps.clock
        )
        first = await create(client, merchant_store_id="store_001")
        second = await create(client, merchant_store_id="store_002")
        one = (await client.get(f"{PATH}?merchant_store_id=store_001")).body["data"]
        two = (await client.get(f"{PATH}?merchant_store_id=store_002")).body["data"]
        assert ([i["id"] for i in one], [i["id"] for i in two]) == ([first["id"]], [second["id"]])

    async def test_created_range(self, pgw: Pgw, client: PgwClient, clock: SettableClock) -> None:
        """created_gte / created_lte (Unix s, inclusive) bound the creation time."""
        early = await create(client)
        clock.advance(100)
        late = await create(client)
        cut = early["created_at"] + 50
        after = [i["id"] for i in (await client.get(f"{PATH}?created_gte={cut}")).body["data"]]
        before = [i["id"] for i in (await client.get(f"{PATH}?created_lte={cut}")).body["data"]]
        exact = await client.get(f"{PATH}?created_gte={late['created_at']}&created_lte={late['created_at']}")
        assert (after, before) == ([late["id"]], [early["id"]])
        assert [i["id"] for i in exact.body["data"]] == [late["id"]]
