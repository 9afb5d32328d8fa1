"""refund.succeeded / refund.failed webhook events on a real gateway, SQLite and PostgreSQL: one outbox event
per refund final state, written in the transaction that records that state (a cash or card refund's unit, the
QR outcome's unit, the sweeper's, a sync batch's), none for a refused or pending refund, none for the loser of
a race, and a signed delivery to a real loopback receiver (docs/cloud-api.md#webhooks)."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import pytest
from pytest_aiohttp import AiohttpServer

from cloud.domain.webhooks import EventType, TargetPolicy, WebhookEndpoint, parse_events
from cloud.infrastructure.providers.paypay_sim import Fault
from cloud.infrastructure.webhook_sender import AiohttpWebhookSender
from cloud.service import webhooks as wh
from cloud.service.refunds import RETRY_AFTER_S, CreateRefund, create_refund
from cloud.settings import Settings
from cloud.testing import PgwClient, Tenant

from ..conftest import API_KEY, Pgw
from ..helpers import rows
from ..providers.conftest import PayPay, post
from ..sync.helpers import Chain, DeviceKeys, post_batch, sale
from ..test_webhooks_outbound import Receiver, _receiver, verify_standard_webhook
from .helpers import paid, refunds_path, retry_pending
from .test_qr_refund_recovery import _paid
from .test_sync_refunds import add_refund

LOOPBACK = TargetPolicy(allow_loopback=True)
REFUND_TYPES = "refund.succeeded,refund.failed"
PAYPAY_REFUNDS = "/v2/refunds"


@pytest.fixture
def pgw_settings(pgw_settings: Settings) -> Settings:
    """The shared settings (so `pgw` and the PayPay `gateway` alike), the gateway's own delivery loop pushed
    out of the way (the tests deliver themselves) and loopback receivers allowed."""
    return pgw_settings.with_changes(webhook_poll_seconds=3600, webhook_allow_loopback=True)


@pytest.fixture
async def hooks(aiohttp_server: AiohttpServer) -> Receiver:
    """A partner's loopback receiver (the outbound webhook tests' own; `receiver` here is PayPay's)."""
    return await _receiver(aiohttp_server)


async def _endpoint(pgw: Pgw, events: str | None = REFUND_TYPES, url: str = "http://127.0.0.1:9/hooks",
                    partner_id: str | None = None) -> WebhookEndpoint:  # fmt: skip
    """An endpoint of the pk_test_abc123 partner (default: the refund types only, nowhere reachable)."""
    assert pgw.deps.webhooks is not None
    if partner_id is None:
        caller = await pgw.deps.credentials.resolve(API_KEY)
        assert caller is not None
        partner_id = caller.partner_id
    return await wh.add_endpoint(wh.AddEndpoint(partner_id, url, events), webhooks=pgw.deps.webhooks,
                                 tenants=pgw.deps.tenants, policy=LOOPBACK, clock=pgw.clock)  # fmt: skip


async def _admin_webhook_add(pgw: Pgw, url: str, events: str) -> dict[str, Any]:
    """`mpac-pgw admin webhook add --events …` as a subprocess on the server's database (its JSON)."""
    caller = await pgw.deps.credentials.resolve(API_KEY)
    assert caller is not None
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cloud.cli", "admin", "webhook", "add", "--partner", caller.partner_id,
        "--url", url, "--events", events, "--allow-loopback", "--db", pgw.cli_db, env=pgw.cli_env,
        stdout=asyncio.subprocess.PIPE)  # fmt: skip
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    added: dict[str, Any] = json.loads(out)
    return added


def _events(pgw: Pgw) -> list[dict[str, Any]]:
    """The refund.* events in the outbox, oldest first, as their delivered bodies."""
    sql = "SELECT body FROM webhook_events WHERE type LIKE 'refund.%' ORDER BY created_at, id"
    found = rows(pgw.db_path, sql)
    return [json.loads(r[0]) for r in found]


def _deliveries(pgw: Pgw) -> int:
    found = rows(pgw.db_path, "SELECT count(*) FROM webhook_deliveries d JOIN webhook_events e "
                              "ON e.id = d.event_id WHERE e.type LIKE 'refund.%'")  # fmt: skip
    return int(found[0][0])


async def _listed(client: PgwClient, intent_id: str) -> list[dict[str, Any]]:
    """The intent's refunds as GET …/refunds shows them."""
    resp = await client.get(refunds_path(intent_id))
    assert resp.status == 200, resp.body
    data: list[dict[str, Any]] = resp.body["data"]
    return data


async def _refund(pgw: Pgw, client: PgwClient, intent_id: str, amount: int, **extra: Any) -> Any:
    """A signed refund POST one second after the last."""
    return await post(pgw, client, refunds_path(intent_id), {"amount": amount, **extra})


def test_the_refund_types_can_be_subscribed_to() -> None:
    """`--events refund.succeeded` (and both) parse like the other types; a near miss is refused."""
    assert parse_events("refund.succeeded") == ("refund.succeeded",)
    assert parse_events("refund.succeeded, refund.failed") == ("refund.failed", "refund.succeeded")
    assert {EventType.REFUND_SUCCEEDED.value, EventType.REFUND_FAILED.value} == {"refund.succeeded",
                                                                                "refund.failed"}  # fmt: skip
    with pytest.raises(Exception, match=r"unknown event type 'refund\.pending'"):
        parse_events("refund.pending")


class TestCashAndCard:
    @pytest.mark.parametrize("method", ["cash", "card"])
    async def test_one_event_with_the_refund_object(
        self, pgw: Pgw, client: PgwClient, tenant: Tenant, method: str
    ) -> None:
        """A cash or card refund, succeeded at once, announces refund.succeeded once; its data.object is the
        refund exactly as the API answered it and lists it; an Idempotency-Key replay announces no more."""
        await _endpoint(pgw)
        pi = await paid(client, 1000, method)
        key = {"Idempotency-Key": f"refund-{method}-1"}
        resp = await _refund(pgw, client, pi["id"], 300, reason="customer_return", merchant_refund_id="R-1")
        assert (resp.status, resp.body["status"]) == (201, "succeeded"), resp.body
        again = await post(pgw, client, refunds_path(pi["id"]), {"amount": 200})
        assert again.status == 201, again.body
        pgw.clock.advance(1)
        keyed = await client.post(refunds_path(pi["id"]), {"amount": 100}, headers=key)
        pgw.clock.advance(1)
        replayed = await client.post(refunds_path(pi["id"]), {"amount": 100}, headers=key)
        assert keyed.status == replayed.status == 201 and keyed.body == replayed.body
        events = _events(pgw)
        assert [e["type"] for e in events] == ["refund.succeeded"] * 3
        assert [e["data"]["object"] for e in events] == [resp.body, again.body, keyed.body]
        assert [e["data"]["object"] for e in events] == await _listed(client, pi["id"])
        assert events[0]["data"]["object"]["merchant_refund_id"] == "R-1"
        assert all(e["id"].startswith("evt_") and isinstance(e["created"], int) for e in events)
        assert _deliveries(pgw) == 3  # one per event for the one subscribed endpoint

    async def test_a_refused_refund_announces_nothing(
        self, pgw: Pgw, client: PgwClient, tenant: Tenant
    ) -> None:
        """Of 600 then 500 on 1000, the 409 over-refund writes no event; neither does a refund of an intent
        not paid (409 payment_not_refundable) or a used merchant_refund_id."""
        await _endpoint(pgw)
        pi = await paid(client, 1000)
        ok = await _refund(pgw, client, pi["id"], 600, merchant_refund_id="R-9")
        assert ok.status == 201, ok.body
        over = await _refund(pgw, client, pi["id"], 500)
        assert (over.status, over.body["error"]["code"]) == (409, "refund_exceeds_remaining")
        used = await _refund(pgw, client, pi["id"], 10, merchant_refund_id="R-9")
        assert (used.status, used.body["error"]["code"]) == (409, "merchant_refund_id_in_use")
        assert [e["data"]["object"]["id"] for e in _events(pgw)] == [ok.body["id"]]

    async def test_racing_over_refunds_announce_only_the_one_that_fits(
        self, pgw: Pgw, client: PgwClient, tenant: Tenant
    ) -> None:
        """Concurrent refunds of 700 on 1000: the database's guard takes one and discards the other's whole
        unit at commit (its staged event with it): exactly one event, the taken refund's."""
        await _endpoint(pgw)
        for _round in range(3):
            pi = await paid(client, 1000)
            pgw.clock.advance(1)
            bodies = [{"amount": 700, "reason": f"race {n}"} for n in range(4)]  # distinct: not replays
            answers = await asyncio.gather(*(client.post(refunds_path(pi["id"]), b) for b in bodies))
            taken = [a.body for a in answers if a.status == 201]
            assert len(taken) == 1 and sorted(a.status for a in answers) == [201, 409, 409, 409], answers
            mine = [e for e in _events(pgw) if e["data"]["object"]["payment_intent_id"] == pi["id"]]
            assert [e["data"]["object"] for e in mine] == taken

    async def test_a_unit_left_uncommitted_writes_no_event(
        self, pgw: Pgw, client: PgwClient, tenant: Tenant
    ) -> None:
        """The refund handler run inside an outer unit that ends without its commit: no refund, no event."""
        await _endpoint(pgw)
        pi = await paid(client, 1000)
        caller = await pgw.deps.credentials.resolve(API_KEY)
        assert caller is not None
        d, uow = pgw.deps, pgw.deps.uow()
        async with uow:
            await create_refund(CreateRefund(pi["id"], 300), caller, uow=uow, new_unit=d.uow,
                                tenants=d.tenants, providers=d.providers, clock=d.clock)  # fmt: skip
        assert await _listed(client, pi["id"]) == []
        assert _events(pgw) == []
        ok = await _refund(pgw, client, pi["id"], 300)
        assert [e["data"]["object"] for e in _events(pgw)] == [ok.body]


async def _racing_sweepers(pgw: Pgw, paypay: PayPay) -> list[int]:
    """Two sweepers (no leader lock) that both read the refund pending before either is answered."""
    pgw.clock.advance(RETRY_AFTER_S + 1)
    paypay.sim.latency_s = 0.2
    finished = await asyncio.gather(retry_pending(pgw.deps), retry_pending(pgw.deps))
    paypay.sim.latency_s = 0.0
    return sorted(finished)


class TestQR:
    async def test_provider_outcome_announced_once(
        self, gateway: tuple[Pgw, PgwClient], paypay: PayPay
    ) -> None:
        """PayPay refunds at once: one refund.succeeded (the pending step before it announces nothing);
        PayPay refuses (already refunded in its console): one refund.failed with the failed refund."""
        pgw, client = gateway
        await _endpoint(pgw)
        good = await _paid(pgw, client, paypay)
        resp = await _refund(pgw, client, good, 400)
        assert (resp.status, resp.body["status"]) == (201, "succeeded"), resp.body
        refused = await _paid(pgw, client, paypay)
        paypay.sim.payments[refused].refunded = 1000
        failed = await _refund(pgw, client, refused, 600)
        assert (failed.status, failed.body["status"]) == (201, "failed"), failed.body
        events = _events(pgw)
        assert [(e["type"], e["data"]["object"]) for e in events] == [
            ("refund.succeeded", resp.body), ("refund.failed", failed.body)]  # fmt: skip
        assert [e["data"]["object"] for e in events] == [*await _listed(client, good),
                                                         *await _listed(client, refused)]  # fmt: skip

    async def test_pending_then_settled_by_racing_sweepers_once(
        self, gateway: tuple[Pgw, PgwClient], paypay: PayPay
    ) -> None:
        """Every answer lost: the refund stays pending and announces nothing; two sweepers race on it, one
        records succeeded and exactly one refund.succeeded is written; later ticks write none."""
        pgw, client = gateway
        await _endpoint(pgw)
        intent_id = await _paid(pgw, client, paypay)
        paypay.sim.inject(Fault("POST", PAYPAY_REFUNDS, status=500, after=True), times=3)
        resp = await _refund(pgw, client, intent_id, 600)
        assert (resp.status, resp.body["status"]) == (201, "pending"), resp.body
        assert _events(pgw) == []
        assert await _racing_sweepers(pgw, paypay) == [0, 1]
        [listed] = await _listed(client, intent_id)
        assert listed == {**resp.body, "status": "succeeded"}
        events = _events(pgw)
        assert [(e["type"], e["data"]["object"]) for e in events] == [("refund.succeeded", listed)]
        pgw.clock.advance(RETRY_AFTER_S + 1)
        assert await retry_pending(pgw.deps) == 0
        assert len(_events(pgw)) == 1 and _deliveries(pgw) == 1

    async def test_pending_then_refused_at_the_sweep_once(
        self, gateway: tuple[Pgw, PgwClient], paypay: PayPay
    ) -> None:
        """The first try never reached PayPay (503); meanwhile the payment was refunded elsewhere, so the
        sweepers' retry is definitely refused: exactly one refund.failed, even with two sweepers racing."""
        pgw, client = gateway
        await _endpoint(pgw)
        intent_id = await _paid(pgw, client, paypay)
        paypay.sim.inject(Fault("POST", PAYPAY_REFUNDS, status=503), times=3)
        resp = await _refund(pgw, client, intent_id, 600)
        assert (resp.status, resp.body["status"]) == (201, "pending"), resp.body
        paypay.sim.payments[intent_id].refunded = 1000
        assert await _racing_sweepers(pgw, paypay) == [0, 1]
        [listed] = await _listed(client, intent_id)
        assert listed == {**resp.body, "status": "failed"}
        assert [(e["type"], e["data"]["object"]) for e in _events(pgw)] == [("refund.failed", listed)]


class TestSynced:
    async def test_a_synced_refund_is_announced_once(
        self, pgw: Pgw, dev: PgwClient, device: DeviceKeys, client: PgwClient
    ) -> None:
        """A batch with a sale and its refund: one refund.succeeded, its object the refund as the API lists
        it; the same batch posted again, the items in a new batch, and a later batch's second refund: one
        event more, for the new refund only."""
        await _endpoint(pgw)
        chain = Chain(device.device_id)
        s = chain.add(sale("cash", amount=1000))
        r = add_refund(chain, 300, reason="customer_return", payment_local_id=s["local_id"])
        batch = chain.batch([s, r])
        first = await post_batch(dev, batch)
        assert first.status == 200, first.body
        sold, refunded = first.body["results"]
        assert refunded["status"] == "accepted", refunded
        pgw.clock.advance(1)
        assert (await post_batch(dev, batch)).body["results"][1]["status"] == "duplicate"
        pgw.clock.advance(1)
        assert (await post_batch(dev, chain.batch([s, r]))).body["results"][1]["status"] == "duplicate"
        [event] = _events(pgw)
        [listed] = await _listed(client, sold["payment_intent_id"])
        assert event["type"] == "refund.succeeded" and event["data"]["object"] == listed
        assert listed["id"] == refunded["refund_id"]
        later = add_refund(chain, 200, payment_intent_id=sold["payment_intent_id"])
        pgw.clock.advance(1)
        assert (await post_batch(dev, chain.batch([later]))).body["results"][0]["status"] == "accepted"
        assert [e["data"]["object"] for e in _events(pgw)] == await _listed(client, sold["payment_intent_id"])
        assert _deliveries(pgw) == 2

    async def test_copies_of_a_batch_racing_announce_once(
        self, pgw: Pgw, dev: PgwClient, device: DeviceKeys
    ) -> None:
        """Copies of one batch posted at once: one is written, the others re-plan to duplicates; one event."""
        await _endpoint(pgw)
        chain = Chain(device.device_id)
        s = chain.add(sale("card", amount=1000))
        refunds = [add_refund(chain, 100, payment_local_id=s["local_id"]) for _ in range(3)]
        copies = [chain.batch([s, *refunds]) for _ in range(4)]
        answers = await asyncio.gather(*(post_batch(dev, c) for c in copies))
        assert all(a.status == 200 for a in answers), [a.body for a in answers]
        events = _events(pgw)
        assert sorted(e["data"]["object"]["id"] for e in events) == sorted(
            x["refund_id"] for a in answers for x in a.body["results"][1:] if x["status"] == "accepted"
        )
        assert len(events) == 3


class TestDelivery:
    async def test_a_refund_succeeded_subscriber_gets_a_signed_delivery(
        self, gateway: tuple[Pgw, PgwClient], paypay: PayPay, hooks: Receiver
    ) -> None:
        """An endpoint subscribed only to refund.succeeded, on a real loopback receiver: a refused QR refund
        (refund.failed) and the payment's own events are not sent to it; the succeeded refund is, once,
        signed with its secret (checked by an independent verifier), the body's object the API's refund. The
        endpoint is added by `mpac-pgw admin webhook add --events refund.succeeded` as a subprocess."""
        pgw, client = gateway
        endpoint = await _admin_webhook_add(pgw, hooks.url, "refund.succeeded")
        assert endpoint["events"] == ["refund.succeeded"]
        intent_id = await _paid(pgw, client, paypay)
        paypay.sim.payments[intent_id].refunded = 1000
        failed = await _refund(pgw, client, intent_id, 600)
        assert failed.body["status"] == "failed", failed.body
        paypay.sim.payments[intent_id].refunded = 0
        ok = await _refund(pgw, client, intent_id, 250)
        assert ok.body["status"] == "succeeded", ok.body
        assert pgw.deps.webhooks is not None
        sender = AiohttpWebhookSender(LOOPBACK, total_s=2.0)
        try:
            dispatcher = wh.Dispatcher(pgw.deps.webhooks, sender, pgw.clock, rand=lambda: 0.5)
            assert await dispatcher.deliver_due() == 1
            assert await dispatcher.deliver_due() == 0
        finally:
            await sender.close()
        [(headers, body)] = hooks.got
        assert verify_standard_webhook(endpoint["secret"], headers, body)
        event = json.loads(body)
        assert (event["type"], event["data"]["object"]) == ("refund.succeeded", ok.body)
        assert headers["webhook-id"] == event["id"]
