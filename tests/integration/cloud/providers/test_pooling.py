"""Provider adapters keep one pooled HTTP session: calls reuse its connections, and the gateway's cleanup
closes them (docs/providers.md#connections). Counted at real loopback servers by the client ports seen."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from cloud.api.app import create_app
from cloud.bootstrap import build_deps
from cloud.domain.provider_ports import ProviderStatus
from cloud.domain.tenants import StoreProviderConfig
from cloud.domain.webhooks import new_secret
from cloud.infrastructure.providers.paypay import PayPayProvider
from cloud.infrastructure.providers.simulator import WEBHOOK_SECRET, SimulatorProvider
from cloud.settings import Settings

from .conftest import PayPay, intent

CALLS = 10


async def _until(predicate: object, timeout_s: float = 2.0) -> bool:
    assert callable(predicate)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return bool(predicate())


class TestPayPayPool:
    async def test_sequential_calls_share_one_connection(
        self, paypay: PayPay, provider: PayPayProvider
    ) -> None:
        """A code create and ten status reads, one after another, reach PayPay over one TCP connection."""
        config = paypay.config()
        made = await provider.create_mpm(intent(), config)
        for _ in range(CALLS):
            assert (await provider.status(made.reference, config)).status is ProviderStatus.PENDING
        assert len(paypay.sim.requests) == CALLS + 1
        assert len(paypay.sim.peers) == 1

    async def test_bursts_reuse_the_pooled_connections(
        self, paypay: PayPay, provider: PayPayProvider
    ) -> None:
        """Two bursts of five overlapping reads: the second burst opens no connection the first did not."""
        config = paypay.config()
        made = await provider.create_mpm(intent(), config)
        paypay.sim.latency_s = 0.05  # the reads of a burst overlap, so a burst needs several connections
        for _ in range(2):
            await asyncio.gather(*(provider.status(made.reference, config) for _ in range(5)))
        assert len(paypay.sim.requests) == 11
        assert 1 < len(paypay.sim.peers) <= 5

    async def test_aclose_closes_the_connections(self, paypay: PayPay, provider: PayPayProvider) -> None:
        """After aclose the simulator holds no connection from us; the next call opens a fresh one."""
        config = paypay.config()
        made = await provider.create_mpm(intent(), config)
        assert paypay.open_connections() == 1
        await provider.aclose()
        assert await _until(lambda: paypay.open_connections() == 0)
        await provider.status(made.reference, config)
        assert len(paypay.sim.peers) == 2


@pytest.mark.sqlite_only("the cleanup does not depend on the backend")
class TestGatewayCleanup:
    async def test_app_cleanup_closes_provider_sessions(self, paypay: PayPay, pgw_settings: Settings) -> None:
        """The registry's paypay adapter, used inside a running app, is disconnected by the app's cleanup."""
        deps = build_deps(pgw_settings)
        runner = web.AppRunner(create_app(pgw_settings, deps))
        await runner.setup()
        try:
            adapter = deps.providers.get("paypay")
            assert adapter is not None
            await adapter.create_mpm(intent(), paypay.config())
            assert paypay.open_connections() == 1
        finally:
            await runner.cleanup()
        assert await _until(lambda: paypay.open_connections() == 0)


class TestSimulatorWebhookPool:
    async def test_webhooks_share_one_connection(self, aiohttp_server: AiohttpServer) -> None:
        """Three signed callbacks from the simulator provider reach the receiver over one connection."""
        peers: set[object] = set()

        async def receive(request: web.Request) -> web.Response:
            assert request.transport is not None
            peers.add(request.transport.get_extra_info("peername"))
            return web.Response(status=204)

        app = web.Application()
        app.router.add_post("/hook", receive)
        server = await aiohttp_server(app, host="127.0.0.1", port=0)
        sim = SimulatorProvider()
        config = StoreProviderConfig("spc_1", "str_1", "simulator", {WEBHOOK_SECRET: new_secret()}, 0.0)
        try:
            made = await sim.create_mpm(intent(), config)
            for _ in range(3):
                status = await sim.notify("pi_1", made.reference, config, str(server.make_url("/hook")),
                                          now=time.time())  # fmt: skip
                assert status == 204
        finally:
            await sim.aclose()
        assert len(peers) == 1
