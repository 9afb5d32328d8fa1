"""Fixtures: the PayPay-API simulator on a real loopback server, the adapter pointed at it, and a real gateway
whose store is configured for it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from cloud.domain import commands as c
from cloud.domain.ids import PAYMENT_INTENT, new_id
from cloud.domain.intent import MethodType, PaymentIntent
from cloud.domain.tenants import StoreProviderConfig
from cloud.infrastructure.providers.paypay import PayPayProvider
from cloud.infrastructure.providers.paypay.client import Policy
from cloud.infrastructure.providers.paypay.webhook import read_webhook
from cloud.infrastructure.providers.paypay.wire import WebhookEvent
from cloud.infrastructure.providers.paypay_sim import Merchant, PayPaySimulator
from cloud.service import tenants as t
from cloud.settings import Settings
from cloud.testing import PgwClient, seed_tenant

from ..conftest import API_KEY, SECRET_KEY, Pgw, PgwFactory

PP_KEY, PP_SECRET, PP_MERCHANT = "pp_test_key", "pp_test_secret_0123456789", "mer_pp_1"
FAST = Policy(attempts=3, backoff_s=0.01, max_backoff_s=0.05)
TIMEOUT_S = "0.3"  # the adapter's per-attempt timeout in these tests; injected delays are longer


@dataclass
class PayPay:
    """A running simulator and a store config pointing at it."""

    sim: PayPaySimulator
    url: str
    server: TestServer

    def open_connections(self) -> int:
        """TCP connections the simulator's server holds open right now."""
        assert self.server.runner is not None and self.server.runner.server is not None
        return len(self.server.runner.server.connections)

    def config(self, **extra: str) -> StoreProviderConfig:
        """A StoreProviderConfig for the simulator (extra credential keys override)."""
        creds = {
            "api_key": PP_KEY,
            "api_secret": PP_SECRET,
            "base_url": self.url,
            "merchant_id": PP_MERCHANT,
            "timeout_seconds": TIMEOUT_S,
            **extra,
        }
        return StoreProviderConfig("spc_test", "str_test", "paypay", creds, time.time())


@pytest.fixture
def webhook_url() -> str | None:
    """Where the simulator sends notifications (none unless a test overrides this fixture)."""
    return None


@pytest.fixture
async def paypay(aiohttp_server: AiohttpServer, webhook_url: str | None) -> PayPay:
    """The simulator on 127.0.0.1, accepting PP_KEY for PP_MERCHANT."""
    sim = PayPaySimulator([Merchant(PP_KEY, PP_SECRET, PP_MERCHANT)], webhook_url=webhook_url)
    server = await aiohttp_server(sim.app(), host="127.0.0.1", port=0)
    return PayPay(sim, str(server.make_url("")).rstrip("/"), server)


@pytest.fixture
async def provider() -> AsyncIterator[PayPayProvider]:
    """The adapter, with short backoffs; its pooled session is closed afterwards."""
    adapter = PayPayProvider(policy=FAST)
    yield adapter
    await adapter.aclose()


def intent(
    amount: int = 1200, method: MethodType = MethodType.QR_MPM, expires_in: float = 1800
) -> PaymentIntent:
    """A fresh intent as the service would hand it to the provider."""
    now = time.time()
    return PaymentIntent(
        id=new_id(PAYMENT_INTENT),
        partner_id="cp_1",
        merchant_id="mer_1",
        store_id="str_1",
        store_code="store_001",
        amount=amount,
        currency="JPY",
        payment_method_types=(method,),
        merchant_ref_id=f"order-{now}",
        created_at=now,
        expires_at=now + expires_in,
    )


class Receiver:
    """A stand-in for the gateway's future webhook route: verifies with the adapter's check."""

    def __init__(self) -> None:
        self.config: StoreProviderConfig | None = None
        self.events: list[WebhookEvent | None] = []

    async def handle(self, request: web.Request) -> web.Response:
        assert self.config is not None
        event = read_webhook(
            self.config,
            authorization=request.headers.get("Authorization"),
            resource=request.path,
            body=await request.read(),
            content_type=request.headers.get("Content-Type"),
            now=time.time(),
        )
        self.events.append(event)
        return web.Response(status=200 if event else 401)


@pytest.fixture
def receiver() -> Receiver:
    """Collects the webhooks the simulator sends."""
    return Receiver()


@pytest.fixture
async def gateway(
    pgw_factory: PgwFactory, pgw_settings: Settings, paypay: PayPay, receiver: Receiver
) -> AsyncIterator[tuple[Pgw, PgwClient]]:
    """A gateway whose store is configured for paypay (the simulator) through the admin service."""
    pgw = await pgw_factory(pgw_settings)
    tenant = await seed_tenant(pgw.deps, api_key=API_KEY, secret_key=SECRET_KEY)
    creds = dict(paypay.config().credentials)
    receiver.config = await t.set_provider_config(
        c.SetProviderConfig(tenant.store_id, "paypay", creds),
        tenants=pgw.deps.tenants,
        providers=pgw.deps.providers,
        clock=pgw.deps.clock,
    )
    yield pgw, pgw.client(tenant)


async def post(pgw: Pgw, client: PgwClient, path: str, body: dict[str, Any] | None = None) -> Any:
    """A signed POST one second after the last (a bare body is `{}`)."""
    pgw.clock.advance(1)  # a new second: the same signed POST twice would be a replay
    return await client.post(path, {} if body is None else body)
