"""A QR refund whose PayPay answer is lost (timeouts, 5xx) stays pending with its amount held; the sweeper
asks again with the same merchantRefundId and records the answer exactly once. A definite refusal is still
failed. The real gateway (both databases) against the PayPay-API simulator on loopback
(docs/cloud-api.md#refunds)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from cloud.api.app import sweep_once
from cloud.api.keys import SETTINGS
from cloud.infrastructure.providers.paypay_sim import Fault
from cloud.service.refunds import RETRY_AFTER_S
from cloud.testing import PgwClient

from ..conftest import Pgw
from ..helpers import create, rows
from ..providers.conftest import PP_SECRET, PayPay, post
from .helpers import refunds_path, retry_pending

REFUNDS = "/v2/refunds"
STEPS = (
    "SELECT reason FROM transactions WHERE intent_id = ? AND reason LIKE 'refund %' ORDER BY created_at, id"
)


async def _paid(pgw: Pgw, client: PgwClient, paypay: PayPay, amount: int = 1000) -> str:
    """A PayPay MPM intent the customer paid, synced to succeeded."""
    pi = await create(client, amount=amount)
    assert (await post(pgw, client, f"/v1/payment_intents/{pi['id']}/confirm")).status == 200
    paypay.sim.complete(pi["id"])
    synced = await post(pgw, client, f"/v1/payment_intents/{pi['id']}/sync")
    assert synced.body["status"] == "succeeded", synced.body
    intent_id: str = pi["id"]
    return intent_id


def _at_paypay(paypay: PayPay, intent_id: str) -> int:
    """How many refunds PayPay holds for the intent's payment."""
    payment_id = paypay.sim.payments[intent_id].payment_id
    return sum(1 for r in paypay.sim.refunds.values() if r.payment_id == payment_id)


def _steps(pgw: Pgw, intent_id: str) -> list[str]:
    """The states of the intent's refund Transactions, in order of writing."""
    found = rows(pgw.db_path, STEPS, (intent_id,))
    return [r[0].split()[2] for r in found]


async def _refunded(client: PgwClient, intent_id: str) -> int:
    amount: int = (await client.get(f"/v1/payment_intents/{intent_id}")).body["amount_refunded"]
    return amount


async def _refund_unanswered(pgw: Pgw, client: PgwClient, intent_id: str) -> str:
    """Refund 600 of 1000 while PayPay's answers are lost: pending, held, and 500 more is refused."""
    resp = await post(pgw, client, refunds_path(intent_id), {"amount": 600})
    assert (resp.status, resp.body["status"]) == (201, "pending"), resp.body
    assert await _refunded(client, intent_id) == 600
    over = await post(pgw, client, refunds_path(intent_id), {"amount": 500})
    assert (over.status, over.body["error"]["code"]) == (409, "refund_exceeds_remaining")
    refund_id: str = resp.body["id"]
    return refund_id


async def _one_tick(pgw: Pgw) -> None:
    """The sweeper's tick once the pending refund is old enough to be asked again."""
    pgw.clock.advance(RETRY_AFTER_S + 1)
    assert await sweep_once(pgw.deps, pgw.app[SETTINGS])


class TestLostAnswer:
    @pytest.mark.parametrize(
        "fault",
        [
            Fault("POST", REFUNDS, delay_s=5, after=True),  # refunded, every answer too late
            Fault("POST", REFUNDS, status=500, after=True),  # refunded, every answer a 5xx
            Fault("POST", REFUNDS, status=503),  # never reached the refund
        ],
        ids=["timeout", "5xx-after", "5xx-before"],
    )
    async def test_pending_then_one_tick_succeeds_once(
        self, gateway: tuple[Pgw, PgwClient], paypay: PayPay, fault: Fault
    ) -> None:
        """No answer through every attempt: pending, amount held; after the fault clears one sweeper tick
        makes it succeeded, one refund at PayPay, one succeeded Transaction; a second tick changes nothing."""
        pgw, client = gateway
        intent_id = await _paid(pgw, client, paypay)
        paypay.sim.inject(fault, times=3)
        refund_id = await _refund_unanswered(pgw, client, intent_id)
        assert _at_paypay(paypay, intent_id) == (0 if fault.status == 503 else 1)
        await _one_tick(pgw)
        [refund] = (await client.get(refunds_path(intent_id))).body["data"]
        assert (refund["id"], refund["status"]) == (refund_id, "succeeded")
        assert _at_paypay(paypay, intent_id) == 1
        assert paypay.sim.payments[intent_id].refunded == 600
        assert _steps(pgw, intent_id) == ["pending", "succeeded"]
        await _one_tick(pgw)
        assert _steps(pgw, intent_id) == ["pending", "succeeded"]
        assert await _refunded(client, intent_id) == 600

    async def test_still_down_stays_pending(
        self, gateway: tuple[Pgw, PgwClient], paypay: PayPay, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A tick while PayPay is still down changes nothing but the refund's place in the retry queue; each
        unknown outcome is a warning naming the refund, without the store's secret."""
        pgw, client = gateway
        intent_id = await _paid(pgw, client, paypay)
        paypay.sim.inject(Fault("POST", REFUNDS, status=503), times=6)
        caplog.set_level(logging.WARNING, logger="cloud.refunds")
        refund_id = await _refund_unanswered(pgw, client, intent_id)
        await _one_tick(pgw)
        assert _steps(pgw, intent_id) == ["pending"]
        assert (await client.get(refunds_path(intent_id))).body["data"][0]["status"] == "pending"
        assert await _refunded(client, intent_id) == 600
        asked = paypay.sim.calls("POST", REFUNDS)
        assert await retry_pending(pgw.deps) == 0
        assert paypay.sim.calls("POST", REFUNDS) == asked  # just tried: not due again yet
        warned = [r.getMessage() for r in caplog.records if r.name == "cloud.refunds"]
        assert len(warned) == 2 and all(refund_id in m and "kept pending" in m for m in warned), warned
        assert PP_SECRET not in caplog.text

    async def test_racing_sweepers_record_it_once(
        self, gateway: tuple[Pgw, PgwClient], paypay: PayPay
    ) -> None:
        """Two sweepers (no leader lock) both ask PayPay about the same pending refund: the status-guarded
        finish records exactly one outcome."""
        pgw, client = gateway
        intent_id = await _paid(pgw, client, paypay)
        paypay.sim.inject(Fault("POST", REFUNDS, status=500, after=True), times=3)
        await _refund_unanswered(pgw, client, intent_id)
        pgw.clock.advance(RETRY_AFTER_S + 1)
        paypay.sim.latency_s = 0.2  # both sweepers have read the refund pending before either is answered
        asked = paypay.sim.calls("POST", REFUNDS)
        finished = await asyncio.gather(retry_pending(pgw.deps), retry_pending(pgw.deps))
        assert sorted(finished) == [0, 1]
        assert paypay.sim.calls("POST", REFUNDS) == asked + 2
        assert _steps(pgw, intent_id) == ["pending", "succeeded"]
        assert _at_paypay(paypay, intent_id) == 1
        assert await _refunded(client, intent_id) == 600


class TestRefusal:
    async def test_refused_is_failed_and_frees_the_amount(
        self, gateway: tuple[Pgw, PgwClient], paypay: PayPay
    ) -> None:
        """PayPay answers that the payment can't be refunded (refunded elsewhere): failed, the amount free."""
        pgw, client = gateway
        intent_id = await _paid(pgw, client, paypay)
        paypay.sim.payments[intent_id].refunded = 1000  # e.g. refunded in PayPay's own console
        resp = await post(pgw, client, refunds_path(intent_id), {"amount": 600})
        assert (resp.status, resp.body["status"]) == (201, "failed"), resp.body
        assert await _refunded(client, intent_id) == 0
        assert _steps(pgw, intent_id) == ["pending", "failed"]
        await _one_tick(pgw)
        assert _steps(pgw, intent_id) == ["pending", "failed"]
        assert _at_paypay(paypay, intent_id) == 0


class TestBackoff:
    async def test_a_silent_provider_is_asked_less_often_as_the_refund_ages(
        self, gateway: tuple[Pgw, PgwClient], paypay: PayPay
    ) -> None:
        """While PayPay never answers, the refund is asked about every 30 s in its first hour, every 5 min
        up to a day, then hourly (docs/cloud-api.md#refunds); it stays pending, its amount held."""
        pgw, client = gateway
        intent_id = await _paid(pgw, client, paypay)
        paypay.sim.inject(Fault("POST", REFUNDS, status=503), times=1000)
        refund_id = await _refund_unanswered(pgw, client, intent_id)
        # (seconds to advance, asked again?); the refund's age after each: 31 s, 51 s, ~2 h, then 60 s, 310 s
        # after a try; ~26 h; then 1000 s, 3000 s, 3700 s after a try
        schedule = [(31, True), (20, False), (2 * 3600, True), (60, False), (250, True), (24 * 3600, True),
                    (1000, False), (2000, False), (700, True)]
        for step, (advance, expected) in enumerate(schedule):
            pgw.clock.advance(advance)
            assert await _tried_in_a_pass(pgw) == ({refund_id} if expected else set()), (step, advance)
        assert _steps(pgw, intent_id) == ["pending"]
        assert await _refunded(client, intent_id) == 600

    async def test_refunds_backing_off_do_not_starve_a_young_one(
        self, gateway: tuple[Pgw, PgwClient], paypay: PayPay
    ) -> None:
        """More old pending refunds than one sweeper page (20), all waiting out their longer backoff: a young
        refund that is due is still asked on the next pass."""
        pgw, client = gateway
        intent_id = await _paid(pgw, client, paypay, amount=10_000)
        paypay.sim.inject(Fault("POST", REFUNDS, status=503), times=5000)
        old = [await post(pgw, client, refunds_path(intent_id), {"amount": 10}) for _ in range(25)]
        assert all(r.body["status"] == "pending" for r in old)
        pgw.clock.advance(2 * 3600)
        tried: set[str] = set()
        for _ in range(3):  # each old one tried once at its age of ~2 h (a page of 20, then the rest)
            tried |= await _tried_in_a_pass(pgw)
        assert tried == {r.body["id"] for r in old}
        young = await post(pgw, client, refunds_path(intent_id), {"amount": 10})
        assert young.body["status"] == "pending"
        pgw.clock.advance(RETRY_AFTER_S + 1)  # the young one is due; the old ones wait 5 min
        assert await _tried_in_a_pass(pgw) == {young.body["id"]}


async def _tried_in_a_pass(pgw: Pgw) -> set[str]:
    """The refunds one sweeper pass asked PayPay about (still pending, so stamped with the pass's time)."""
    await retry_pending(pgw.deps)
    at = round(pgw.clock() * 1000)
    found = rows(pgw.db_path, "SELECT id FROM refunds WHERE status = 'pending' AND updated_at = ?", (at,))
    return {r[0] for r in found}
