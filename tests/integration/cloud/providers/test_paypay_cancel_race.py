"""A customer paying an MPM code while the cashier cancels it (docs/providers.md#cancel), against the PayPay
simulator on loopback: exactly one of the two wins, and the gateway, PayPay, the customer's phone and the
intent's Transactions all tell the same story — paid (409 intent_already_paid, succeeded) or withdrawn
(200 cancelled, PayPay CANCELED, the phone told the code is gone), never both."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from cloud.infrastructure.providers.paypay_sim import Fault
from cloud.testing import PgwClient

from ..conftest import Pgw
from ..helpers import create, transitions
from .conftest import PayPay, post

pytestmark = pytest.mark.sqlite_only("provider behaviour, not storage: one backend keeps CI lean")
PATH = "/v1/payment_intents"
ROUNDS = 6
HOLD_S = 0.2  # how long the simulator holds the DELETE (below the adapter's 0.3 s per-attempt timeout)


async def _awaiting_code(pgw: Pgw, client: PgwClient) -> str:
    """A confirmed MPM intent whose code waits for the customer; its id."""
    pi = await create(client)
    confirmed = await post(pgw, client, f"{PATH}/{pi['id']}/confirm")
    assert confirmed.body["status"] == "requires_action", confirmed.body
    return str(pi["id"])


async def _customer_pays(pgw: Pgw, paypay: PayPay, intent_id: str, delay_s: float = 0.0) -> str:
    """The phone's payment through the simulator's hook route; the status PayPay answers it with."""
    await asyncio.sleep(delay_s)
    async with pgw.session.post(f"{paypay.url}/_sim/payments/{intent_id}/complete") as resp:
        assert resp.status == 200
        return str((await resp.json())["status"])


async def _until(predicate: Any, timeout_s: float = 2.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "the simulator never got there"
        await asyncio.sleep(0.005)


def _one_outcome(pgw: Pgw, paypay: PayPay, intent_id: str, cancel: Any, phone: str) -> str:
    """Assert the four views agree; which outcome it was ("succeeded" or "cancelled")."""
    steps = [to for _, to, _ in transitions(pgw.db_path, intent_id)]
    at_paypay = paypay.sim.payments[intent_id].status
    if cancel.status == 409:
        assert cancel.body["error"]["code"] == "intent_already_paid", cancel.body
        assert (at_paypay, phone, steps[-1]) == ("COMPLETED", "COMPLETED", "succeeded")
        assert "cancelled" not in steps
        return "succeeded"
    assert (cancel.status, cancel.body["status"]) == (200, "cancelled"), cancel.body
    assert (at_paypay, phone, steps[-1]) == ("CANCELED", "CANCELED", "cancelled")
    assert "succeeded" not in steps and "processing" not in steps
    return "cancelled"


class TestPayRacesCancel:
    async def test_pay_lands_while_the_withdrawal_is_in_flight(
        self, gateway: tuple[Pgw, PgwClient], paypay: PayPay
    ) -> None:
        """The customer pays after PayPay got the DELETE but before it handled it: PayPay refuses the
        withdrawal (already paid), the gateway reads the payment back: 409 and succeeded."""
        pgw, client = gateway
        intent_id = await _awaiting_code(pgw, client)
        paypay.sim.inject(Fault("DELETE", "/v2/codes", delay_s=HOLD_S))
        cancel = asyncio.create_task(post(pgw, client, f"{PATH}/{intent_id}/cancel"))
        await _until(lambda: paypay.sim.calls("DELETE", "/v2/codes") == 1)
        phone = await _customer_pays(pgw, paypay, intent_id)
        assert _one_outcome(pgw, paypay, intent_id, await cancel, phone) == "succeeded"
        assert paypay.sim.calls("GET", "/v2/codes/payments/") == 2  # before the DELETE, and the read-back

    async def test_pay_arrives_just_after_the_withdrawal(
        self, gateway: tuple[Pgw, PgwClient], paypay: PayPay
    ) -> None:
        """PayPay deleted the code, its answer is still on the way, the customer's payment comes now: the
        phone is told the code is cancelled and the gateway cancels."""
        pgw, client = gateway
        intent_id = await _awaiting_code(pgw, client)
        paypay.sim.inject(Fault("DELETE", "/v2/codes", delay_s=HOLD_S, after=True))
        cancel = asyncio.create_task(post(pgw, client, f"{PATH}/{intent_id}/cancel"))
        await _until(lambda: paypay.sim.payments[intent_id].status == "CANCELED")
        phone = await _customer_pays(pgw, paypay, intent_id)
        assert not cancel.done()
        assert _one_outcome(pgw, paypay, intent_id, await cancel, phone) == "cancelled"

    async def test_concurrent_pay_and_cancel_always_agree(
        self, gateway: tuple[Pgw, PgwClient], paypay: PayPay
    ) -> None:
        """Pay and cancel sent together, the payment a little later each round: every round ends in one
        outcome everyone agrees on, and a later sync changes nothing."""
        pgw, client = gateway
        paypay.sim.latency_s = 0.01  # every PayPay call takes a moment, so the two really overlap
        for i in range(ROUNDS):
            intent_id = await _awaiting_code(pgw, client)
            cancel, phone = await asyncio.gather(
                post(pgw, client, f"{PATH}/{intent_id}/cancel"),
                _customer_pays(pgw, paypay, intent_id, delay_s=0.008 * i),
            )
            outcome = _one_outcome(pgw, paypay, intent_id, cancel, phone)
            synced = await post(pgw, client, f"{PATH}/{intent_id}/sync")
            assert synced.body["status"] == outcome
            assert [to for _, to, _ in transitions(pgw.db_path, intent_id)][-1] == outcome


class TestWithdrawalRefused:
    async def test_refused_withdrawal_of_an_unpaid_code_is_502_and_changes_nothing(
        self, gateway: tuple[Pgw, PgwClient], paypay: PayPay
    ) -> None:
        """PayPay answers the DELETE with a refusal while nobody paid: the read-back still says unpaid, so
        the cancel is 502 provider_error and the intent and the code stay as they were."""
        pgw, client = gateway
        intent_id = await _awaiting_code(pgw, client)
        paypay.sim.inject(Fault("DELETE", "/v2/codes", status=400))
        refused = await post(pgw, client, f"{PATH}/{intent_id}/cancel")
        assert (refused.status, refused.body["error"]["code"]) == (502, "provider_error"), refused.body
        assert paypay.sim.calls("DELETE", "/v2/codes") == 1  # a refusal is not retried
        assert paypay.sim.calls("GET", "/v2/codes/payments/") == 2  # before the DELETE, and the read-back
        assert paypay.sim.payments[intent_id].status == "CREATED"
        assert [to for _, to, _ in transitions(pgw.db_path, intent_id)][-1] == "requires_action"
