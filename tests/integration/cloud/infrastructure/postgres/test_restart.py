"""A PostgreSQL that goes away and comes back under load: 503 with Retry-After while it is away, never a
500, and the same running gateway serves again once it returns (its pool reconnects by itself)."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from cloud.settings import Settings
from cloud.testing import PgwClient
from tests.pgserver import PgServer

from ...conftest import Pgw
from ...helpers import intent_body

PATH = "/v1/payment_intents"
pytestmark = pytest.mark.postgres


@pytest.fixture(params=["postgresql"])
def db_backend(request: pytest.FixtureRequest) -> str:
    """These tests stop and start the PostgreSQL server: PostgreSQL only."""
    backend: str = request.param
    return backend


async def _load(client: PgwClient, stop: asyncio.Event, seen: Counter[int], retry_after: set[str]) -> None:
    while not stop.is_set():
        resp = await client.post(PATH, intent_body())
        seen[resp.status] += 1
        if resp.status == 503:
            retry_after.add(resp.headers.get("Retry-After", ""))


class TestServerRestart:
    async def test_restart_during_load_gives_503_then_recovers(
        self, pgw: Pgw, client: PgwClient, pg_server: PgServer, pgw_settings: Settings
    ) -> None:
        """Four clients create intents while the server stops and starts: 201 or 503 only, then 201 again."""
        assert (await client.post(PATH, intent_body())).status == 201
        stop, seen, retry_after = asyncio.Event(), Counter[int](), set[str]()
        load = [asyncio.create_task(_load(client, stop, seen, retry_after)) for _ in range(4)]
        await asyncio.sleep(0.2)
        await asyncio.to_thread(pg_server.stop)
        down = Counter[int]()
        for _ in range(5):  # while it is away, every answer is a 503 with Retry-After
            resp = await client.post(PATH, intent_body())
            down[resp.status] += 1
        await asyncio.to_thread(pg_server.start)
        stop.set()
        await asyncio.gather(*load)
        assert down == Counter({503: 5})
        assert set(seen) <= {201, 503} and seen[201] > 0, seen
        assert retry_after <= {"1"}
        after = [await client.post(PATH, intent_body()) for _ in range(3)]
        assert [r.status for r in after] == [201, 201, 201]
        listed = await client.get("/v1/payment_intents?limit=100")
        assert listed.status == 200

    async def test_reads_recover_too(self, pgw: Pgw, client: PgwClient, pg_server: PgServer) -> None:
        """A signed GET while the server is away is a 503; after it returns, the same gateway answers 200."""
        created = (await client.post(PATH, intent_body())).body
        await asyncio.to_thread(pg_server.stop)
        try:
            away = await client.get(f"{PATH}/{created['id']}")
        finally:
            await asyncio.to_thread(pg_server.start)
        assert away.status == 503 and away.headers.get("Retry-After") == "1"
        assert away.body["error"]["code"] == "storage_unavailable"
        back = await client.get(f"{PATH}/{created['id']}")
        assert back.status == 200 and back.body["id"] == created["id"]
