"""Limits per source address (docs/cloud-api.md#rate-limits): device activation, and wrong signatures."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from cloud.settings import Settings
from cloud.testing import PgwClient, SettableClock, Tenant

from .conftest import Pgw, PgwFactory
from .helpers import intent_body

PATH = "/v1/payment_intents"
ACTIVATE = "/v1/devices/activate"
UNKNOWN_CODE = {"code": "ABCDEFGHJKMN", "serial_number": "SN-1", "model": "P2"}
ACTIVATIONS_PER_MINUTE = Settings().activation_limit_per_minute
BAD_SIGNATURES_PER_MINUTE = Settings().bad_signature_limit_per_minute


@pytest.fixture
async def elsewhere() -> AsyncIterator[aiohttp.ClientSession]:
    """A session whose connections come from another loopback address, 127.0.0.2."""
    connector = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


async def activate(session: aiohttp.ClientSession, pgw: Pgw) -> tuple[int, str, str | None]:
    """POST an unknown activation code; (status, error code, Retry-After)."""
    async with session.post(pgw.url + ACTIVATE, json=UNKNOWN_CODE) as resp:
        body = await resp.json()
        return resp.status, body["error"]["code"], resp.headers.get("Retry-After")


class TestActivation:
    async def test_attempts_past_the_limit_are_429_per_address(
        self, pgw: Pgw, clock: SettableClock, elsewhere: aiohttp.ClientSession
    ) -> None:
        """The attempt after the limit is 429 with Retry-After; another address is not affected; a window
        later the address may try again."""
        answers = [await activate(pgw.session, pgw) for _ in range(ACTIVATIONS_PER_MINUTE)]
        assert {a[:2] for a in answers} == {(404, "activation_code_not_found")}
        status, code, retry_after = await activate(pgw.session, pgw)
        assert (status, code) == (429, "rate_limited")
        assert retry_after is not None and 1 <= int(retry_after) <= 60
        assert (await activate(elsewhere, pgw))[0] == 404
        clock.advance(121)
        assert (await activate(pgw.session, pgw))[0] == 404


class TestBadSignatures:
    async def test_an_address_sending_wrong_signatures_is_held_back(
        self, pgw: Pgw, tenant: Tenant, client: PgwClient, clock: SettableClock,
        elsewhere: aiohttp.ClientSession,
    ) -> None:  # fmt: skip
        """Past the limit of wrong signatures, every signed request from that address is 429 (even a good
        one, so guessing learns nothing); other addresses are served; a window later it is served again."""
        forger = PgwClient(pgw.session, pgw.url, tenant.api_key, "sk_wrong_guess", clock)
        for _ in range(BAD_SIGNATURES_PER_MINUTE):
            resp = await forger.post(PATH, intent_body())
            assert (resp.status, resp.body["error"]["code"]) == (401, "invalid_signature")
        held = await client.post(PATH, intent_body())
        assert (held.status, held.body["error"]["code"]) == (429, "rate_limited")
        assert 1 <= int(held.headers["Retry-After"]) <= 60
        other = PgwClient(elsewhere, pgw.url, tenant.api_key, tenant.secret_key, clock)
        assert (await other.post(PATH, intent_body())).status == 201
        clock.advance(121)
        assert (await client.post(PATH, intent_body())).status == 201

    async def test_good_signatures_are_not_counted(self, pgw: Pgw, client: PgwClient) -> None:
        """Valid requests, however many, never trip the wrong-signature limit."""
        for n in range(BAD_SIGNATURES_PER_MINUTE + 5):
            assert (await client.get(f"{PATH}?limit={n % 100 + 1}")).status == 200

    async def test_an_unknown_api_key_counts_too(self, pgw: Pgw, clock: SettableClock) -> None:
        """Guessing api_keys is the same as guessing secrets: counted, then held back."""
        for n in range(BAD_SIGNATURES_PER_MINUTE + 1):
            stranger = PgwClient(pgw.session, pgw.url, f"pk_guess_{n:04d}", "sk_whatever", clock)
            resp = await stranger.post(PATH, raw=json.dumps(intent_body()).encode())
        assert (resp.status, resp.body["error"]["code"]) == (429, "rate_limited")


class TestConfigured:
    async def test_the_limits_come_from_the_settings(
        self, pgw_factory: PgwFactory, pgw_settings: Settings
    ) -> None:
        """activation_limit_per_minute=2: the third attempt from one address is 429."""
        server = await pgw_factory(pgw_settings.with_changes(activation_limit_per_minute=2))
        assert [(await activate(server.session, server))[0] for _ in range(3)] == [404, 404, 429]
