"""The real gateway using the paypay adapter through a store's StoreProviderConfig, against the PayPay-API
simulator: MPM and CPM flows, the webhook the simulator sends, and provider outages answered 503 with the
intent left for a later confirm or sync to repair."""

from __future__ import annotations

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from cloud.domain import commands as c
from cloud.domain.errors import ValidationFailed
from cloud.domain.provider_ports import ProviderStatus
from cloud.infrastructure.providers.paypay_sim import Fault
from cloud.service import tenants as t
from cloud.testing import PgwClient, seed_tenant

from ..conftest import Pgw
from ..helpers import create, transitions
from .conftest import PayPay, Receiver, post

# The provider path does not touch storage differently per backend, and reads the SQLite file once.
pytestmark = pytest.mark.sqlite_only("provider behaviour, not storage: one backend keeps CI lean")
VALID_CODE = "123456789012345678"
PATH = "/v1/payment_intents"


@pytest.fixture
async def webhook_url(aiohttp_server: AiohttpServer, receiver: Receiver) -> str:
    """The receiver on 127.0.0.1 (the simulator's webhook target)."""
    app = web.Application()
    app.router.add_post("/hooks/paypay", receiver.handle)
    server = await aiohttp_server(app, host="127.0.0.1", port=0)
    return str(server.make_url("/hooks/paypay"))


class TestMpm:
    async def test_pay_then_webhook_and_sync_reach_succeeded(
        self, gateway: tuple[Pgw, PgwClient], paypay: PayPay, receiver: Receiver
    ) -> None:
        """confirm -> PayPay code -> customer pays -> a verified webhook says COMPLETED, sync -> succeeded."""
        pgw, client = gateway
        pi = await create(client)
        confirmed = await post(pgw, client, f"{PATH}/{pi['id']}/confirm")
        assert (confirmed.status, confirmed.body["status"]) == (200, "requires_action")
        assert confirmed.body["qr_content"] == paypay.sim.payments[pi["id"]].url
        assert confirmed.body["provider"] == "paypay"
        paypay.sim.complete(pi["id"])
        await paypay.sim.webhooks.drain()
        [event] = receiver.events
        assert event is not None and (event.merchant_payment_id, event.status) == (
            pi["id"],
            ProviderStatus.SUCCEEDED,
        )
        synced = await post(pgw, client, f"{PATH}/{pi['id']}/sync")
        assert synced.body["status"] == "succeeded"

    async def test_outage_on_confirm_is_503_and_a_retry_repairs(
        self, gateway: tuple[Pgw, PgwClient], paypay: PayPay
    ) -> None:
        """PayPay down through every retry: 503, the intent untouched; confirming again works."""
        pgw, client = gateway
        pi = await create(client)
        paypay.sim.inject(Fault("POST", "/v2/codes", status=500, after=True), times=3)
        down = await post(pgw, client, f"{PATH}/{pi['id']}/confirm")
        assert (down.status, down.body["error"]["code"]) == (503, "provider_unavailable")
        assert (await client.get(f"{PATH}/{pi['id']}")).body["status"] == "requires_payment_method"
        again = await post(pgw, client, f"{PATH}/{pi['id']}/confirm")
        assert (again.status, again.body["status"]) == (200, "requires_action")
        assert len([p for p in paypay.sim.payments if p == pi["id"]]) == 1

    async def test_rate_limited_and_refused_credentials(
        self, gateway: tuple[Pgw, PgwClient], paypay: PayPay
    ) -> None:
        """429 throughout is 503 provider_rate_limited; PayPay refusing our keys is 502 provider_error."""
        pgw, client = gateway
        pi = await create(client)
        paypay.sim.inject(Fault(status=429), times=3)
        limited = await post(pgw, client, f"{PATH}/{pi['id']}/confirm")
        assert (limited.status, limited.body["error"]["code"]) == (503, "provider_rate_limited")
        paypay.sim.merchants.clear()  # PayPay no longer knows the key
        refused = await post(pgw, client, f"{PATH}/{pi['id']}/confirm")
        assert (refused.status, refused.body["error"]["code"]) == (502, "provider_error")
        assert "pp_test_secret" not in str(refused.body)

    async def test_code_expiry_fails_the_intent(self, gateway: tuple[Pgw, PgwClient], paypay: PayPay) -> None:
        """PayPay expires the code: sync moves the intent to failed with provider_expired."""
        pgw, client = gateway
        pi = await create(client)
        await post(pgw, client, f"{PATH}/{pi['id']}/confirm")
        paypay.sim.expire(pi["id"])
        synced = await post(pgw, client, f"{PATH}/{pi['id']}/sync")
        assert (synced.body["status"], synced.body["failure_code"]) == ("failed", "provider_expired")


class TestCpm:
    async def test_valid_and_invalid_codes(self, gateway: tuple[Pgw, PgwClient]) -> None:
        """A valid scanned code succeeds; a malformed one fails with provider_invalid_code."""
        pgw, client = gateway
        for code, status, failure in (
            (VALID_CODE, "succeeded", None),
            ("NOTAPAYPAYCODE", "failed", "provider_invalid_code"),
        ):
            pi = await create(client, "qr_cpm")
            done = await post(pgw, client, f"{PATH}/{pi['id']}/confirm", {"customer_code": code})
            assert (done.status, done.body["status"], done.body["failure_code"]) == (200, status, failure)

    async def test_timeout_leaves_processing_and_sync_repairs(
        self, gateway: tuple[Pgw, PgwClient], paypay: PayPay
    ) -> None:
        """The charge's answer and its read-back both lost: processing; a later sync reads it as succeeded."""
        pgw, client = gateway
        pi = await create(client, "qr_cpm")
        paypay.sim.inject(Fault("POST", "/v2/payments", delay_s=5, after=True))
        paypay.sim.inject(Fault("GET", "/v2/payments", status=503), times=3)
        done = await post(pgw, client, f"{PATH}/{pi['id']}/confirm", {"customer_code": VALID_CODE})
        assert (done.status, done.body["status"]) == (200, "processing")
        synced = await post(pgw, client, f"{PATH}/{pi['id']}/sync")
        assert synced.body["status"] == "succeeded"
        assert [to for _, to, _ in transitions(pgw.db_path, pi["id"])][-1] == "succeeded"

    async def test_cancel_before_the_customer_pays(
        self, gateway: tuple[Pgw, PgwClient], paypay: PayPay
    ) -> None:
        """An MPM intent awaiting PayPay is withdrawn at PayPay, then cancelled (docs/providers.md#cancel)."""
        pgw, client = gateway
        pi = await create(client)
        await post(pgw, client, f"{PATH}/{pi['id']}/confirm")
        cancelled = await post(pgw, client, f"{PATH}/{pi['id']}/cancel")
        assert (cancelled.status, cancelled.body["status"]) == (200, "cancelled")
        assert paypay.sim.payments[pi["id"]].status == "CANCELED"

    async def test_cancel_refused_while_paypay_cannot_withdraw(
        self, gateway: tuple[Pgw, PgwClient], paypay: PayPay
    ) -> None:
        """A PayPay 503 on the withdrawal answers 503 and leaves the intent awaiting the customer."""
        pgw, client = gateway
        pi = await create(client)
        await post(pgw, client, f"{PATH}/{pi['id']}/confirm")
        paypay.sim.inject(Fault("DELETE", "/v2/codes", status=503), times=10)
        refused = await post(pgw, client, f"{PATH}/{pi['id']}/cancel")
        assert refused.status == 503
        assert refused.headers.get("Retry-After") == "1"
        assert [to for _, to, _ in transitions(pgw.db_path, pi["id"])][-1] == "requires_action"
        assert paypay.sim.payments[pi["id"]].status == "CREATED"


async def test_provider_config_set_checks_the_shape(pgw: Pgw) -> None:
    """paypay credentials without base_url are refused before anything is stored."""
    tenant = await seed_tenant(pgw.deps)
    with pytest.raises(ValidationFailed, match="base_url"):
        await t.set_provider_config(
            c.SetProviderConfig(tenant.store_id, "paypay", {"api_key": "k", "api_secret": "s"}),
            tenants=pgw.deps.tenants,
            providers=pgw.deps.providers,
            clock=pgw.deps.clock,
        )
    assert await pgw.deps.tenants.get_provider_config(tenant.store_id, "paypay") is None
