"""/_simulator/… on a real server: absent by default, mounted only when enabled, loopback peers only."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request

from cloud.api.app import create_app
from cloud.api.errors import ApiError
from cloud.api.keys import DEPS
from cloud.api.simulator import mark
from cloud.bootstrap import build_deps
from cloud.settings import Settings
from cloud.testing import PgwClient, Tenant

from ..conftest import Pgw, PgwFactory
from ..helpers import create


async def _qr_code(client: PgwClient) -> str:
    """An MPM intent in requires_action (the simulator issued its code); its id."""
    pi = await create(client)
    resp = await client.post(f"/v1/payment_intents/{pi['id']}/confirm", {})
    assert resp.status == 200 and resp.body["status"] == "requires_action", resp.body
    intent_id: str = pi["id"]
    return intent_id


async def _pay(pgw: Pgw, intent_id: str) -> tuple[int, Any]:
    async with pgw.session.post(f"{pgw.url}/_simulator/payment_intents/{intent_id}/pay") as resp:
        return resp.status, await resp.json()


class TestOffByDefault:
    async def test_plain_settings_have_no_simulator_route(self, pgw: Pgw, client: PgwClient) -> None:
        """Without the setting the route does not exist: 404 route_not_found, the intent stays unpaid."""
        intent_id = await _qr_code(client)
        status, body = await _pay(pgw, intent_id)
        assert (status, body["error"]["code"]) == (404, "route_not_found")
        assert Settings().simulator_routes is False


class TestEnabled:
    @pytest.fixture
    async def pgw(self, pgw_factory: PgwFactory, pgw_settings: Settings) -> Pgw:
        """The gateway with simulator_routes on."""
        return await pgw_factory(pgw_settings.with_changes(simulator_routes=True))

    async def test_pays_from_loopback(self, pgw: Pgw, client: PgwClient, tenant: Tenant) -> None:
        """From 127.0.0.1 the route marks the code paid; a sync then settles the intent."""
        intent_id = await _qr_code(client)
        assert await _pay(pgw, intent_id) == (200, {"payment_intent": intent_id, "marked": "pay",
                                                    "reference": (await pgw.deps.uow().intents.get(
                                                        intent_id)).provider_ref,  # type: ignore[union-attr]
                                                    "webhook_status": None})  # no webhook_secret configured
        synced = await client.post(f"/v1/payment_intents/{intent_id}/sync", {})
        assert synced.body["status"] == "succeeded", synced.body

    async def test_refuses_a_peer_that_is_not_loopback(self, pgw: Pgw, client: PgwClient) -> None:
        """The same handler, called with a request whose TCP peer is 203.0.113.7 (aiohttp's mocked request
        on the real app): 403, and the code is not marked."""
        intent_id = await _qr_code(client)
        request = make_mocked_request("POST", f"/_simulator/payment_intents/{intent_id}/pay", app=pgw.app,
                                      match_info={"id": intent_id, "outcome": "pay"},
                                      transport=_Transport("203.0.113.7"))  # fmt: skip
        with pytest.raises(ApiError) as refused:
            await mark(request)
        assert (refused.value.status, refused.value.code) == (403, "forbidden")
        synced = await client.post(f"/v1/payment_intents/{intent_id}/sync", {})
        assert synced.body["status"] == "requires_action"
        assert pgw.app[DEPS].simulator is not None

    def test_says_so_at_start(self, pgw_settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
        """Building an app with the routes on logs a warning that names them; without, nothing."""
        with caplog.at_level(logging.WARNING, logger="cloud.api"):
            create_app(pgw_settings, build_deps(pgw_settings))
            assert not [r for r in caplog.records if "_simulator" in r.getMessage()]
            on = pgw_settings.with_changes(simulator_routes=True)
            create_app(on, build_deps(on))
        warned = [r for r in caplog.records if "_simulator" in r.getMessage()]
        assert len(warned) == 1 and warned[0].levelno == logging.WARNING


class _Transport:
    """Just enough of an asyncio transport for aiohttp to read the peer address from."""

    def __init__(self, host: str) -> None:
        self._peer = (host, 40000)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._peer if name == "peername" else default
