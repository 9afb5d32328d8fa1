"""Fixtures: the PayPay-API simulator on a real loopback server, and the adapter pointed at it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from cloud.domain.ids import PAYMENT_INTENT, new_id
from cloud.domain.intent import MethodType, PaymentIntent
from cloud.domain.tenants import StoreProviderConfig
from cloud.infrastructure.providers.paypay import PayPayProvider
from cloud.infrastructure.providers.paypay.client import Policy
from cloud.infrastructure.providers.paypay_sim import Merchant, PayPaySimulator

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
