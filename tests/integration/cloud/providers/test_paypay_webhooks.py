"""The PayPay-API simulator's OPA-Auth-signed notification, sent to the real gateway's
`POST /v1/webhooks/paypay`, settles the intent without any sync or retrieve."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cloud.domain import commands as c
from cloud.service import tenants as t
from cloud.testing import PgwClient, seed_tenant

from ..conftest import API_KEY, SECRET_KEY, Pgw
from ..helpers import create
from .conftest import PayPay

pytestmark = pytest.mark.sqlite_only("provider behaviour, not storage: one backend keeps CI lean")


@pytest.fixture
def webhook_url(pgw: Pgw) -> str:
    """The simulator notifies the gateway itself."""
    return f"{pgw.url}/v1/webhooks/paypay"


@pytest.fixture
async def gateway(pgw: Pgw, paypay: PayPay) -> AsyncIterator[PgwClient]:
    """The gateway's store configured for paypay (the simulator)."""
    tenant = await seed_tenant(pgw.deps, api_key=API_KEY, secret_key=SECRET_KEY)
    creds = dict(paypay.config().credentials)
    cmd = c.SetProviderConfig(tenant.store_id, "paypay", creds)
    deps = pgw.deps
    await t.set_provider_config(cmd, tenants=deps.tenants, providers=deps.providers, clock=deps.clock)
    yield pgw.client(tenant)


async def test_completed_notification_settles_the_intent(
    pgw: Pgw, gateway: PgwClient, paypay: PayPay
) -> None:
    """confirm -> PayPay code -> the customer pays -> the verified webhook alone moves it to succeeded."""
    pi = await create(gateway)
    pgw.clock.advance(1)
    confirmed = await gateway.post(f"/v1/payment_intents/{pi['id']}/confirm", {})
    assert confirmed.body["status"] == "requires_action"
    paypay.sim.complete(pi["id"])
    await paypay.sim.webhooks.drain()
    [delivery] = paypay.sim.webhooks.deliveries
    assert delivery.attempts == [200]
    intent = await pgw.deps.uow().intents.get(pi["id"])
    assert intent is not None and intent.status.value == "succeeded"


async def test_notification_under_another_key_is_refused(
    pgw: Pgw, gateway: PgwClient, paypay: PayPay
) -> None:
    """The store's config holds another api_secret: every attempt is 401 and the intent does not move."""
    pi = await create(gateway)
    pgw.clock.advance(1)
    await gateway.post(f"/v1/payment_intents/{pi['id']}/confirm", {})
    store_id = (await pgw.deps.uow().intents.get(pi["id"])).store_id  # type: ignore[union-attr]
    await t.set_provider_config(c.SetProviderConfig(store_id, "paypay", dict(paypay.config(
        api_secret="another_secret_0123456789").credentials)), tenants=pgw.deps.tenants,
        providers=pgw.deps.providers, clock=pgw.deps.clock)  # fmt: skip
    paypay.sim.complete(pi["id"])
    await paypay.sim.webhooks.drain()
    assert set(paypay.sim.webhooks.deliveries[0].attempts) == {401}
    intent = await pgw.deps.uow().intents.get(pi["id"])
    assert intent is not None and intent.status.value == "requires_action"
