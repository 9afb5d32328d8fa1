"""Every edge of the PaymentIntent state machine through the HTTP API, checked in the database."""

from __future__ import annotations

from typing import Any

import pytest

from cloud.service.handlers import expire_due
from cloud.settings import Settings
from cloud.testing import PgwClient, SettableClock, Tenant

from .conftest import Pgw, PgwFactory
from .helpers import create, transitions

RPM, RA, PROC, CAP = "requires_payment_method", "requires_action", "processing", "requires_capture"


@pytest.fixture
async def pgw(pgw_factory: PgwFactory, pgw_settings: Settings) -> Pgw:
    """The gateway with the simulator routes on: QR codes are settled through them."""
    return await pgw_factory(pgw_settings.with_changes(simulator_routes=True))


def actor(tenant: Tenant) -> str:
    """How Transactions name a partner."""
    return f"partner:{tenant.partner_id}"


async def confirm(client: PgwClient, intent_id: str, **body: Any) -> tuple[int, dict[str, Any]]:
    """Signed confirm."""
    resp = await client.post(f"/v1/payment_intents/{intent_id}/confirm", body)
    return resp.status, resp.body


async def sync(client: PgwClient, intent_id: str) -> dict[str, Any]:
    """Signed sync, a second after the last one: two equal POSTs signed in one second carry one signature,
    and the second would be a replay whatever its Idempotency-Key (docs/cloud-api.md#replays)."""
    client.clock.advance(1)
    resp = await client.post(f"/v1/payment_intents/{intent_id}/sync", {})
    assert resp.status == 200, resp.body
    body: dict[str, Any] = resp.body
    return body


async def simulate(pgw: Pgw, intent_id: str, outcome: str) -> None:
    """Mark the simulator code of an intent paid or failed."""
    async with pgw.session.post(f"{pgw.url}/_simulator/payment_intents/{intent_id}/{outcome}") as resp:
        assert resp.status == 200


class TestQrMpm:
    async def test_mpm_paid_then_synced_succeeds(self, pgw: Pgw, client: PgwClient, tenant: Tenant) -> None:
        """rpm -> requires_action with qr_content; once the simulator is paid, sync -> succeeded."""
        pi = await create(client)
        status, body = await confirm(client, pi["id"])
        assert (status, body["status"]) == (200, RA)
        assert body["qr_content"].startswith("https://qr.simulator.invalid/")
        assert body["qr_code_url"] == body["qr_content"]
        unpaid = await sync(client, pi["id"])
        assert unpaid["status"] == RA
        await simulate(pgw, pi["id"], "pay")
        synced = await sync(client, pi["id"])
        assert synced["status"] == "succeeded"
        assert transitions(pgw.db_path, pi["id"]) == [
            (None, RPM, actor(tenant)),
            (RPM, RA, actor(tenant)),
            (RA, PROC, "provider:simulator"),
            (PROC, "succeeded", "provider:simulator"),
        ]

    async def test_mpm_failed_then_synced_fails(self, pgw: Pgw, client: PgwClient) -> None:
        """requires_action -> failed when the provider reports failure."""
        pi = await create(client)
        await confirm(client, pi["id"])
        await simulate(pgw, pi["id"], "fail")
        synced = await sync(client, pi["id"])
        assert (synced["status"], synced["failure_code"]) == ("failed", "provider_declined")
        assert transitions(pgw.db_path, pi["id"])[-1][:2] == (RA, "failed")

    async def test_mpm_manual_capture_stops_in_requires_capture(self, pgw: Pgw, client: PgwClient) -> None:
        """capture_method manual: paid -> requires_capture; capture -> succeeded."""
        pi = await create(client, capture_method="manual")
        await confirm(client, pi["id"])
        await simulate(pgw, pi["id"], "pay")
        synced = await sync(client, pi["id"])
        assert synced["status"] == CAP
        captured = await client.post(f"/v1/payment_intents/{pi['id']}/capture", {})
        assert (captured.status, captured.body["status"]) == (200, "succeeded")
        assert [t[1] for t in transitions(pgw.db_path, pi["id"])] == [RPM, RA, PROC, CAP, "succeeded"]


class TestQrCpm:
    async def test_cpm_code_succeeds(self, pgw: Pgw, client: PgwClient) -> None:
        """rpm -> processing -> succeeded for an accepted customer code."""
        pi = await create(client, "qr_cpm")
        status, body = await confirm(client, pi["id"], customer_code="2812345678901234")
        assert (status, body["status"]) == (200, "succeeded")
        assert [t[1] for t in transitions(pgw.db_path, pi["id"])] == [RPM, PROC, "succeeded"]

    async def test_cpm_declined_code_fails(self, pgw: Pgw, client: PgwClient) -> None:
        """processing -> failed for a declined customer code."""
        pi = await create(client, "qr_cpm")
        _, body = await confirm(client, pi["id"], customer_code="SIMFAIL0001")
        assert body["status"] == "failed"
        assert [t[1] for t in transitions(pgw.db_path, pi["id"])] == [RPM, PROC, "failed"]

    async def test_cpm_pending_code_settles_on_sync(self, pgw: Pgw, client: PgwClient) -> None:
        """A pending CPM charge stays in processing until sync reads it paid."""
        pi = await create(client, "qr_cpm")
        _, body = await confirm(client, pi["id"], customer_code="SIMPEND0001")
        assert body["status"] == PROC
        await simulate(pgw, pi["id"], "pay")
        synced = await sync(client, pi["id"])
        assert synced["status"] == "succeeded"

    async def test_cpm_needs_customer_code(self, pgw: Pgw, client: PgwClient) -> None:
        """Confirming qr_cpm without customer_code is 422 and leaves the intent untouched."""
        pi = await create(client, "qr_cpm")
        status, body = await confirm(client, pi["id"])
        assert (status, body["error"]["param"]) == (422, "customer_code")
        assert [t[1] for t in transitions(pgw.db_path, pi["id"])] == [RPM]


class TestExternalAndManual:
    async def test_card_approved_succeeds_with_card_details(self, pgw: Pgw, client: PgwClient) -> None:
        """external: an approved card_result -> processing -> succeeded, card details kept."""
        pi = await create(client, "card")
        card = {
            "status": "approved",
            "approval_code": "A1",
            "card_brand": "visa",
            "card_last_4": "4242",
            "entry_method": "contactless",
        }
        status, body = await confirm(client, pi["id"], card_result=card)
        assert (status, body["status"], body["processing_mode"]) == (200, "succeeded", "external")
        assert body["card"] == card

    async def test_card_declined_fails(self, pgw: Pgw, client: PgwClient) -> None:
        """external: a declined card_result -> processing -> failed (card_declined)."""
        pi = await create(client, "card")
        _, body = await confirm(client, pi["id"], card_result={"status": "declined"})
        assert (body["status"], body["failure_code"]) == ("failed", "card_declined")
        assert [t[1] for t in transitions(pgw.db_path, pi["id"])] == [RPM, PROC, "failed"]

    async def test_cash_succeeds_with_change(self, pgw: Pgw, client: PgwClient) -> None:
        """manual: cash_received 5000 for 1000 -> succeeded with change 4000."""
        pi = await create(client, "cash")
        _, body = await confirm(client, pi["id"], cash_received=5000)
        assert (body["status"], body["cash_received"], body["change"]) == ("succeeded", 5000, 4000)
        assert body["processing_mode"] == "manual"

    async def test_cash_short_is_refused(self, pgw: Pgw, client: PgwClient) -> None:
        """Less cash than the amount is 422 insufficient_cash; nothing moves."""
        pi = await create(client, "cash")
        status, body = await confirm(client, pi["id"], cash_received=999)
        assert (status, body["error"]["code"]) == (422, "insufficient_cash")
        assert [t[1] for t in transitions(pgw.db_path, pi["id"])] == [RPM]

    async def test_method_must_be_allowed(self, pgw: Pgw, client: PgwClient) -> None:
        """Confirming with a method the intent does not allow is 422."""
        pi = await create(client, "card")
        status, body = await confirm(client, pi["id"], payment_method_type="cash", cash_received=1000)
        assert (status, body["error"]["param"]) == (422, "payment_method_type")

    async def test_several_types_need_a_choice(self, pgw: Pgw, client: PgwClient) -> None:
        """With several allowed types, confirm names one; the chosen mode is recorded."""
        resp = await client.post(
            "/v1/payment_intents",
            {
                "amount": 500,
                "currency": "JPY",
                "payment_method_types": ["qr_mpm", "cash"],
                "merchant_ref_id": "multi-1",
            },
        )
        pi = resp.body
        assert pi["processing_mode"] is None
        status, _ = await confirm(client, pi["id"], cash_received=500)
        assert status == 422
        _, body = await confirm(client, pi["id"], payment_method_type="cash", cash_received=500)
        assert (body["status"], body["processing_mode"]) == ("succeeded", "manual")


class TestCancelAndRefusedEdges:
    async def test_cancel_from_requires_payment_method(self, pgw: Pgw, client: PgwClient) -> None:
        """rpm -> cancelled with the given reason."""
        pi = await create(client)
        resp = await client.post(
            f"/v1/payment_intents/{pi['id']}/cancel", {"cancellation_reason": "abandoned"}
        )
        assert (resp.status, resp.body["status"], resp.body["cancellation_reason"]) == (
            200,
            "cancelled",
            "abandoned",
        )

    async def test_cancel_from_requires_action(self, pgw: Pgw, client: PgwClient) -> None:
        """requires_action -> cancelled."""
        pi = await create(client)
        await confirm(client, pi["id"])
        resp = await client.post(f"/v1/payment_intents/{pi['id']}/cancel", {})
        assert resp.body["status"] == "cancelled"
        assert transitions(pgw.db_path, pi["id"])[-1][:2] == (RA, "cancelled")

    async def test_refused_edges_are_409_and_change_nothing(self, pgw: Pgw, client: PgwClient) -> None:
        """Every call a state does not allow is 409 invalid_state, with no new Transaction."""
        done = await create(client, "cash")
        await confirm(client, done["id"], cash_received=1000)  # succeeded
        failed = await create(client, "card")
        await confirm(client, failed["id"], card_result={"status": "declined"})
        cancelled = await create(client)
        await client.post(f"/v1/payment_intents/{cancelled['id']}/cancel", {})
        pending = await create(client, "qr_cpm")
        await confirm(client, pending["id"], customer_code="SIMPEND1")  # processing
        action = await create(client)
        await confirm(client, action["id"])  # requires_action
        fresh = await create(client)
        refused = [
            *((pi["id"], call) for pi in (done, failed, cancelled, pending, action) for call in ("confirm",)),
            *((pi["id"], "cancel") for pi in (done, failed, cancelled, pending)),
            *((pi["id"], "capture") for pi in (done, failed, cancelled, pending, action, fresh)),
        ]
        for intent_id, call in refused:
            before = transitions(pgw.db_path, intent_id)
            body = {"cash_received": 1000} if call == "confirm" else {}
            client.clock.advance(1)  # the same signed POST again in one second is a replay, key or none
            resp = await client.post(f"/v1/payment_intents/{intent_id}/{call}", body)
            # a cancel of collected money says so (docs/cloud-api.md#cancel-and-the-provider)
            code = "intent_already_paid" if (intent_id, call) == (done["id"], "cancel") else "invalid_state"
            assert (resp.status, resp.body["error"]["code"]) == (409, code), (intent_id, call)
            assert transitions(pgw.db_path, intent_id) == before

    async def test_sync_of_a_terminal_intent_changes_nothing(self, pgw: Pgw, client: PgwClient) -> None:
        """sync on an intent with nothing pending returns it unchanged."""
        pi = await create(client, "cash")
        await confirm(client, pi["id"], cash_received=1000)
        resp = await sync(client, pi["id"])
        assert resp["status"] == "succeeded"
        assert len(transitions(pgw.db_path, pi["id"])) == 3


class TestExpiry:
    async def test_untouched_intent_expires_to_cancelled(
        self, pgw: Pgw, client: PgwClient, clock: SettableClock
    ) -> None:
        """Past expires_at an untouched intent reads as cancelled/expired, written by system:expiry."""
        pi = await create(client, expires_in_minutes=1)
        clock.advance(61)
        resp = await client.get(f"/v1/payment_intents/{pi['id']}")
        assert (resp.body["status"], resp.body["cancellation_reason"]) == ("cancelled", "expired")
        assert transitions(pgw.db_path, pi["id"])[-1] == (RPM, "cancelled", "system:expiry")
        late = await client.post(f"/v1/payment_intents/{pi['id']}/confirm", {})
        assert (late.status, late.body["error"]["code"]) == (409, "invalid_state")

    async def test_sweep_expires_without_a_request(
        self, pgw: Pgw, client: PgwClient, clock: SettableClock
    ) -> None:
        """The background sweep's bounded pass cancels expired intents and leaves live ones."""
        old = await create(client, expires_in_minutes=1)
        young = await create(client, expires_in_minutes=30)
        clock.advance(120)
        assert await expire_due(uow=pgw.deps.uow(), clock=clock) == 1
        assert transitions(pgw.db_path, old["id"])[-1][1] == "cancelled"
        assert transitions(pgw.db_path, young["id"])[-1][1] == RPM
