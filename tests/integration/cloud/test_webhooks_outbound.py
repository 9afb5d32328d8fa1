"""Outbound webhooks on a real gateway to a real loopback receiver: events from the outbox, Standard Webhooks
signatures checked by an independent verifier, retries on the (injected-clock) schedule, auto-disable,
redeliver, nothing sent for a rolled-back change, and the SSRF guard."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from cloud.domain.errors import ValidationFailed
from cloud.domain.intent import Status
from cloud.domain.webhooks import MAX_ATTEMPTS, TargetPolicy, WebhookEndpoint, new_secret
from cloud.infrastructure.webhook_sender import AiohttpWebhookSender
from cloud.service import webhooks as wh
from cloud.settings import Settings
from cloud.testing import PgwClient, Tenant

from .conftest import Pgw, PgwFactory
from .helpers import create, rows
from .sync.helpers import Chain, device_client, enroll, post_batch

LOOPBACK = TargetPolicy(allow_loopback=True)


def verify_standard_webhook(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The Standard Webhooks check, written here from the spec (not the gateway's code)."""
    key = base64.b64decode(secret.split("_", 1)[1])
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(sig.split(",", 1) == ["v1", expected] for sig in headers["webhook-signature"].split(" "))


@dataclass
class Receiver:
    """A partner's endpoint: records every request; answers from `script` (then 200)."""

    url: str = ""
    script: list[int] = field(default_factory=list)
    hang: bool = False
    got: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.got.append((dict(request.headers), await request.read()))
        if self.hang:
            await asyncio.sleep(30)
        status = self.script.pop(0) if self.script else 200
        if status == 302:
            raise web.HTTPFound("/elsewhere")
        return web.Response(status=status, text="ok" if status == 200 else "nope")

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.got]


async def _receiver(aiohttp_server: AiohttpServer) -> Receiver:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hooks", receiver.handle)
    server = await aiohttp_server(app, host="127.0.0.1", port=0)
    receiver.url = str(server.make_url("/hooks"))
    return receiver


@pytest.fixture
async def receiver(aiohttp_server: AiohttpServer) -> Receiver:
    """One loopback receiver."""
    return await _receiver(aiohttp_server)


@pytest.fixture
async def pgw(pgw_factory: PgwFactory, pgw_settings: Settings) -> Pgw:
    """The gateway; its own delivery loop is pushed out of the way, the tests run passes themselves."""
    changed = pgw_settings.with_changes(webhook_poll_seconds=3600, webhook_allow_loopback=True)
    return await pgw_factory(changed)


async def _endpoint(pgw: Pgw, tenant: Tenant, url: str, events: str | None = None) -> WebhookEndpoint:
    assert pgw.deps.webhooks is not None
    return await wh.add_endpoint(wh.AddEndpoint(tenant.partner_id, url, events), webhooks=pgw.deps.webhooks,
                                 tenants=pgw.deps.tenants, policy=LOOPBACK, clock=pgw.clock)  # fmt: skip


@pytest.fixture
async def dispatcher(pgw: Pgw) -> AsyncIterator[wh.Dispatcher]:
    """A dispatcher over the gateway's storage and clock, jitter pinned to the middle."""
    assert pgw.deps.webhooks is not None
    sender = AiohttpWebhookSender(LOOPBACK, total_s=2.0)
    yield wh.Dispatcher(pgw.deps.webhooks, sender, pgw.clock, rand=lambda: 0.5)
    await sender.close()


async def _post(pgw: Pgw, client: PgwClient, path: str, body: dict[str, Any]) -> Any:
    pgw.clock.advance(1)  # a new second: the same signed POST again would be a replay
    resp = await client.post(path, body)
    assert resp.status < 300, resp.body
    return resp.body


class TestEvents:
    async def test_each_intent_event_is_delivered_once_and_signed(
        self, pgw: Pgw, client: PgwClient, tenant: Tenant, receiver: Receiver, dispatcher: wh.Dispatcher
    ) -> None:
        """succeeded, requires_action, cancelled, failed, requires_capture: one request each, verified."""
        endpoint = await _endpoint(pgw, tenant, receiver.url)
        cash = await create(client, "cash")
        await _post(pgw, client, f"/v1/payment_intents/{cash['id']}/confirm", {"cash_received": 2000})
        mpm = await create(client)
        await _post(pgw, client, f"/v1/payment_intents/{mpm['id']}/confirm", {})
        await _post(pgw, client, f"/v1/payment_intents/{mpm['id']}/cancel", {})
        cpm = await create(client, "qr_cpm")
        await _post(pgw, client, f"/v1/payment_intents/{cpm['id']}/confirm", {"customer_code": "SIMFAIL1"})
        card = await create(client, "card", capture_method="manual")
        await _post(pgw, client, f"/v1/payment_intents/{card['id']}/confirm",
                    {"card_result": {"status": "approved", "card_last_4": "4242"}})
        assert await dispatcher.deliver_due() == 5
        assert await dispatcher.deliver_due() == 0  # nothing twice
        got = [(e["type"], e["data"]["object"]["id"]) for e in receiver.events()]
        assert got == [("payment_intent.succeeded", cash["id"]),
                       ("payment_intent.requires_action", mpm["id"]), ("payment_intent.cancelled", mpm["id"]),
                       ("payment_intent.failed", cpm["id"]), ("payment_intent.requires_capture", card["id"])]
        for headers, body in receiver.got:
            assert verify_standard_webhook(endpoint.secret, headers, body)
            assert headers["webhook-id"] == json.loads(body)["id"]
        assert not verify_standard_webhook(new_secret(), *receiver.got[0])

    async def test_subscription_filters_types_and_partners(  # noqa: PLR0917 — pytest fixtures
        self, pgw: Pgw, client: PgwClient, tenant: Tenant, other_tenant: Tenant, receiver: Receiver,
        dispatcher: wh.Dispatcher,
    ) -> None:  # fmt: skip
        """An endpoint gets only its types, and only its own partner's events."""
        await _endpoint(pgw, tenant, receiver.url, events="payment_intent.cancelled")
        await _endpoint(pgw, other_tenant, receiver.url)
        mpm = await create(client)
        await _post(pgw, client, f"/v1/payment_intents/{mpm['id']}/confirm", {})
        await _post(pgw, client, f"/v1/payment_intents/{mpm['id']}/cancel", {})
        await dispatcher.deliver_due()
        assert [e["type"] for e in receiver.events()] == ["payment_intent.cancelled"]

    async def test_a_sync_batch_is_announced_once(
        self, pgw: Pgw, tenant: Tenant, receiver: Receiver, dispatcher: wh.Dispatcher
    ) -> None:
        """A device's batch of two sales: one sync_batch.processed with its counts (not one per sale)."""
        await _endpoint(pgw, tenant, receiver.url, events="sync_batch.processed")  # not device.activated
        keys = await enroll(pgw, tenant)
        chain = Chain(keys.device_id)
        batch = chain.batch([chain.add(), chain.add()])
        assert (await post_batch(device_client(pgw, keys), batch)).status == 200
        assert await dispatcher.deliver_due() == 1
        [event] = receiver.events()
        assert event["type"] == "sync_batch.processed"
        obj = event["data"]["object"]
        assert (obj["batch_id"], obj["device_id"], obj["accepted"], obj["rejected"]) == (
            batch["batch_id"], keys.device_id, 2, 0)

    async def test_a_rolled_back_change_sends_nothing(
        self, pgw: Pgw, client: PgwClient, tenant: Tenant, receiver: Receiver, dispatcher: wh.Dispatcher
    ) -> None:
        """A unit left without commit, and one whose commit loses the version race, write no event."""
        await _endpoint(pgw, tenant, receiver.url)
        pi = await create(client, "cash")
        intent = await pgw.deps.uow().intents.get(pi["id"])
        assert intent is not None
        moved, txn = intent.transition(Status.CANCELLED, actor="test", now=pgw.clock())
        uow = pgw.deps.uow()
        async with uow:
            await uow.intents.save(moved, [txn], intent.version)  # and no commit
        with pytest.raises(Exception, match="changed by another request"):
            async with uow:
                await uow.intents.save(moved, [txn], intent.version + 7)
                await uow.commit()
        assert rows(pgw.db_path, "SELECT count(*) FROM webhook_events") == [(0,)]
        assert await dispatcher.deliver_due() == 0 and receiver.got == []


class TestRetries:
    async def test_fails_n_times_then_delivered_exactly_once(
        self, pgw: Pgw, client: PgwClient, tenant: Tenant, receiver: Receiver, dispatcher: wh.Dispatcher
    ) -> None:
        """500, 503, a redirect, then 200: retried on schedule (not before), accepted once, four log rows."""
        await _endpoint(pgw, tenant, receiver.url)
        receiver.script = [500, 503, 302]
        pi = await create(client, "cash")
        await _post(pgw, client, f"/v1/payment_intents/{pi['id']}/confirm", {"cash_received": 1000})
        assert await dispatcher.deliver_due() == 1
        for delay in (60, 120, 240):  # the nominal delays, jitter pinned to the middle
            pgw.clock.advance(delay - 1)
            assert await dispatcher.deliver_due() == 0  # not due yet
            pgw.clock.advance(1)
            assert await dispatcher.deliver_due() == 1
        pgw.clock.advance(10 * 24 * 3600)
        assert await dispatcher.deliver_due() == 0
        assert len(receiver.got) == 4 and len({h["webhook-id"] for h, _ in receiver.got}) == 1
        event_id = receiver.events()[0]["id"]
        assert pgw.deps.webhooks is not None
        log = await pgw.deps.webhooks.attempts(event_id)
        assert [a["status_code"] for a in log] == [500, 503, 302, 200]
        assert log[0]["response_excerpt"] == "nope"

    async def test_long_failure_disables_then_enable_and_redeliver(
        self, pgw: Pgw, client: PgwClient, tenant: Tenant, receiver: Receiver, dispatcher: wh.Dispatcher
    ) -> None:
        """Failing through the whole ~3-day schedule disables the endpoint; re-enabled, redeliver sends."""
        endpoint = await _endpoint(pgw, tenant, receiver.url)
        assert pgw.deps.webhooks is not None
        receiver.script = [500] * MAX_ATTEMPTS
        pi = await create(client, "cash")
        await _post(pgw, client, f"/v1/payment_intents/{pi['id']}/confirm", {"cash_received": 1000})
        start = pgw.clock()
        for _ in range(MAX_ATTEMPTS):
            assert await dispatcher.deliver_due() == 1
            pgw.clock.advance(13 * 3600)
        assert pgw.clock() - start >= 3 * 24 * 3600
        found = await pgw.deps.webhooks.get_endpoint(endpoint.id)
        assert found is not None and (found.status.value, found.disabled_reason) == ("disabled", "failing")
        event_id = receiver.events()[0]["id"]
        with pytest.raises(ValidationFailed):
            wh.check_event_id("nope")
        await wh.set_enabled(endpoint.id, True, webhooks=pgw.deps.webhooks, clock=pgw.clock)
        assert await pgw.deps.webhooks.redeliver(event_id, pgw.clock()) == 1
        assert await dispatcher.deliver_due() == 1
        assert receiver.got[-1][1] == receiver.got[0][1]  # the same bytes, the same event id
        assert [a["status_code"] for a in await pgw.deps.webhooks.attempts(event_id)][-1] == 200

    async def test_a_hanging_receiver_does_not_hold_back_the_others(  # noqa: PLR0917 — pytest fixtures
        self, pgw: Pgw, client: PgwClient, tenant: Tenant, receiver: Receiver, aiohttp_server: AiohttpServer,
        dispatcher: wh.Dispatcher,
    ) -> None:  # fmt: skip
        """One endpoint never answers (timeout: retried), the other is delivered in the same pass."""
        slow = await _receiver(aiohttp_server)
        slow.hang = True
        await _endpoint(pgw, tenant, slow.url)
        await _endpoint(pgw, tenant, receiver.url)
        pi = await create(client, "cash")
        await _post(pgw, client, f"/v1/payment_intents/{pi['id']}/confirm", {"cash_received": 1000})
        assert await dispatcher.deliver_due() == 2
        assert len(receiver.got) == 1 and len(slow.got) == 1
        found = rows(pgw.db_path, "SELECT status, attempts FROM webhook_deliveries ORDER BY status")
        assert found == [("delivered", 1), ("pending", 1)]


class TestTargets:
    @pytest.mark.parametrize("url", ["http://example.com/h", "https://10.0.0.7/h", "https://169.254.169.254/",
                                     "https://[::1]/h", "http://127.0.0.1:9/h", "ftp://example.com/",
                                     "https://user:pw@example.com/", "https://localhost/h"])  # fmt: skip
    def test_refused_without_allowances(self, url: str) -> None:
        """Plain http, private, link-local, loopback and credentials in the URL are refused by default."""
        with pytest.raises(ValidationFailed):
            TargetPolicy().check_url(url)

    def test_allowances(self) -> None:
        """https to a public name passes; loopback and private ranges only when allowed."""
        assert TargetPolicy().check_url("https://hooks.example.com/x")
        assert LOOPBACK.check_url("http://127.0.0.1:9/h")
        assert TargetPolicy(allow_private=True).check_url("https://10.0.0.7/h")
        assert not LOOPBACK.address_allowed("10.0.0.7") and not TargetPolicy().address_allowed("127.0.0.1")

    async def test_sender_refuses_a_loopback_target_by_default(
        self, pgw: Pgw, client: PgwClient, tenant: Tenant, receiver: Receiver
    ) -> None:
        """A loopback endpoint, a gateway not allowing it: nothing reaches the receiver, the log says why."""
        await _endpoint(pgw, tenant, receiver.url)
        assert pgw.deps.webhooks is not None
        strict = AiohttpWebhookSender(TargetPolicy())
        dispatcher = wh.Dispatcher(pgw.deps.webhooks, strict, pgw.clock, rand=lambda: 0.5)
        pi = await create(client, "cash")
        await _post(pgw, client, f"/v1/payment_intents/{pi['id']}/confirm", {"cash_received": 1000})
        assert await dispatcher.deliver_due() == 1
        await strict.close()
        assert receiver.got == []
        [(error,)] = rows(pgw.db_path, "SELECT error FROM webhook_attempts")
        assert error.startswith("target refused")
