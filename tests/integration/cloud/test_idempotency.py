"""Idempotency-Key semantics of docs/cloud-api.md through the HTTP API."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping, Sequence

from cloud.api.keys import IN_FLIGHT
from cloud.bootstrap import build_deps
from cloud.domain.errors import ProviderUnavailable
from cloud.domain.intent import PaymentIntent
from cloud.domain.provider_ports import ProviderResult, ProviderStatus, RefundRequest
from cloud.domain.tenants import StoreProviderConfig
from cloud.infrastructure.providers.registry import Registry
from cloud.settings import Settings
from cloud.testing import PgwClient, SettableClock, seed_tenant

from .conftest import API_KEY, SECRET_KEY, Pgw, PgwFactory
from .helpers import create, intent_body, rows

PATH = "/v1/payment_intents"


def key(name: str) -> dict[str, str]:
    """An Idempotency-Key header."""
    return {"Idempotency-Key": name}


class TestIdempotentCreate:
    async def test_same_key_same_body_returns_stored_response(self, pgw: Pgw, client: PgwClient) -> None:
        """A retried create returns the first response (same id) and creates one intent only."""
        body = intent_body()
        first = await client.post(PATH, body, headers=key("create-1"))
        again = await client.post(PATH, body, headers=key("create-1"))
        assert (first.status, again.status) == (201, 201)
        assert again.body["id"] == first.body["id"]
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert rows(pgw.db_path, "SELECT count(*) FROM payment_intents") == [(1,)]

    async def test_replayed_create_carries_a_fresh_working_token(self, pgw: Pgw, client: PgwClient) -> None:
        """Only token hashes are kept, so a replay mints a new token; both tokens work."""
        body = intent_body()
        first = await client.post(PATH, body, headers=key("create-2"))
        again = await client.post(PATH, body, headers=key("create-2"))
        assert again.body["payment_token"] != first.body["payment_token"]
        for token in (first.body["payment_token"], again.body["payment_token"]):
            got = await client.get(f"{PATH}/{first.body['id']}?payment_token={token}", signed=False)
            assert got.status == 200

    async def test_same_key_different_body_is_422(self, pgw: Pgw, client: PgwClient) -> None:
        """Reusing a key with another body is 422 idempotency_key_reused and creates nothing."""
        await client.post(PATH, intent_body(), headers=key("create-3"))
        other = await client.post(PATH, intent_body(), headers=key("create-3"))
        assert (other.status, other.body["error"]["code"]) == (422, "idempotency_key_reused")
        assert rows(pgw.db_path, "SELECT count(*) FROM payment_intents") == [(1,)]

    async def test_same_key_other_path_is_422(self, pgw: Pgw, client: PgwClient) -> None:
        """The fingerprint covers method and path, not just the body."""
        pi = await create(client)
        await client.post(f"{PATH}/{pi['id']}/cancel", {}, headers=key("k-path"))
        other = await client.post(f"{PATH}/{pi['id']}/confirm", {}, headers=key("k-path"))
        assert other.status == 422

    async def test_key_in_flight_is_409(self, pgw: Pgw, client: PgwClient, tenant: object) -> None:
        """While a request with the key is being processed, another with the same key is 409."""
        pgw.app[IN_FLIGHT].add((API_KEY, "busy-key"))  # what the first request holds while it runs
        resp = await client.post(PATH, intent_body(), headers=key("busy-key"))
        assert (resp.status, resp.body["error"]["code"]) == (409, "idempotency_in_flight")
        assert rows(pgw.db_path, "SELECT count(*) FROM payment_intents") == [(0,)]

    async def test_concurrent_retries_create_one_intent(self, pgw: Pgw, client: PgwClient) -> None:
        """Many simultaneous sends of one keyed create make exactly one intent; the rest get 201 or 409."""
        body = intent_body()
        results = await asyncio.gather(*(client.post(PATH, body, headers=key("race")) for _ in range(8)))
        assert {r.status for r in results} <= {201, 409}
        assert len({r.body["id"] for r in results if r.status == 201}) == 1
        assert rows(pgw.db_path, "SELECT count(*) FROM payment_intents") == [(1,)]

    async def test_key_is_scoped_to_the_credential(
        self, pgw: Pgw, client: PgwClient, other_client: PgwClient
    ) -> None:
        """Two partners using the same key string get independent results."""
        a = await client.post(PATH, intent_body(), headers=key("shared"))
        b = await other_client.post(PATH, intent_body(), headers=key("shared"))
        assert (a.status, b.status) == (201, 201)
        assert a.body["id"] != b.body["id"]

    async def test_errors_below_500_are_stored(self, pgw: Pgw, client: PgwClient) -> None:
        """A 4xx answer is replayed too (the stored response, not a re-run)."""
        bad = {**intent_body(), "amount": -1}
        first = await client.post(PATH, bad, headers=key("bad"))
        again = await client.post(PATH, bad, headers=key("bad"))
        assert (first.status, again.status) == (422, 422)
        assert again.headers.get("Idempotent-Replayed") == "true"

    async def test_key_expires_after_24_hours(
        self, pgw: Pgw, client: PgwClient, clock: SettableClock
    ) -> None:
        """After 24 h the same key runs the request again."""
        pi = await create(client)
        first = await client.post(f"{PATH}/{pi['id']}/sync", {}, headers=key("day"))
        clock.advance(24 * 3600 + 1)
        again = await client.post(f"{PATH}/{pi['id']}/sync", {}, headers=key("day"))
        assert again.headers.get("Idempotent-Replayed") is None
        assert (first.status, again.status) == (200, 200)

    async def test_invalid_key_is_400(self, pgw: Pgw, client: PgwClient) -> None:
        """An over-long Idempotency-Key is 400."""
        resp = await client.post(PATH, intent_body(), headers=key("k" * 300))
        assert (resp.status, resp.body["error"]["code"]) == (400, "invalid_idempotency_key")


class FlakyProvider:
    """A provider boundary that fails once with 503, then works (the real simulator can't be unreachable)."""

    name = "flaky"

    def __init__(self) -> None:
        self.calls = 0

    async def create_mpm(self, intent: PaymentIntent, config: StoreProviderConfig | None) -> ProviderResult:
        """Fail the first call."""
        self.calls += 1
        if self.calls == 1:
            raise ProviderUnavailable("provider timed out")
        return ProviderResult("flaky-1", ProviderStatus.PENDING, qr_content="https://qr.flaky.invalid/1")

    async def charge_cpm(
        self, intent: PaymentIntent, code: str, config: StoreProviderConfig | None
    ) -> ProviderResult:
        """Unused."""
        raise ProviderUnavailable("unused")

    async def status(self, reference: str, config: StoreProviderConfig | None) -> ProviderResult:
        """Unused."""
        raise ProviderUnavailable("unused")

    async def cancel(self, reference: str, config: StoreProviderConfig | None) -> None:
        """Unused."""
        raise ProviderUnavailable("unused")

    async def refund(
        self, reference: str, refund: RefundRequest, config: StoreProviderConfig | None
    ) -> ProviderResult:
        """Unused."""
        raise ProviderUnavailable("unused")

    def check_credentials(self, credentials: Mapping[str, str]) -> None:
        """Anything goes."""


async def test_5xx_is_not_stored_so_a_retry_can_succeed(
    pgw_factory: PgwFactory, pgw_settings: Settings, clock: SettableClock
) -> None:
    """A 503 from the provider is not kept: the same key retried later succeeds."""
    base = build_deps(pgw_settings, clock)
    flaky = FlakyProvider()
    deps = dataclasses.replace(base, providers=Registry([flaky], "flaky"))
    server = await pgw_factory(pgw_settings, deps)
    tenant = await seed_tenant(server.deps, api_key=API_KEY, secret_key=SECRET_KEY)
    client = server.client(tenant)
    pi = await create(client)
    first = await client.post(f"{PATH}/{pi['id']}/confirm", {}, headers=key("retry"))
    assert (first.status, first.body["error"]["code"]) == (503, "provider_unavailable")
    again = await client.post(f"{PATH}/{pi['id']}/confirm", {}, headers=key("retry"))
    assert (again.status, again.body["status"]) == (200, "requires_action")
    stored: Sequence[tuple[int]] = rows(server.db_path, "SELECT status_code FROM idempotency_keys")
    assert list(stored) == [(200,)]
