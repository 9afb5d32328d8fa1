"""POST /v1/webhooks/{provider} on a real gateway: the simulator's signed callbacks move QR intents with no
polling, bad signatures are 401 with nothing changed, replays and late events are harmless."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cloud.domain import commands as c
from cloud.domain.webhooks import new_secret, signed_headers
from cloud.service import tenants as t
from cloud.settings import Settings
from cloud.testing import PgwClient, Tenant, db_snapshot

from .conftest import Pgw, PgwFactory
from .helpers import create, transitions

HOOK = "/v1/webhooks/simulator"


@pytest.fixture
async def pgw(pgw_factory: PgwFactory, pgw_settings: Settings) -> Pgw:
    """A gateway with the simulator's control routes."""
    return await pgw_factory(pgw_settings.with_changes(simulator_routes=True))


@pytest.fixture
async def secret(pgw: Pgw, tenant: Tenant) -> str:
    """The store's simulator config, with the secret its callbacks are signed with."""
    value = new_secret()
    await t.set_provider_config(c.SetProviderConfig(tenant.store_id, "simulator", {"webhook_secret": value}),
                                tenants=pgw.deps.tenants, providers=pgw.deps.providers, clock=pgw.deps.clock)
    return value


async def _awaiting(client: PgwClient) -> dict[str, Any]:
    pi = await create(client)
    confirmed = await client.post(f"/v1/payment_intents/{pi['id']}/confirm", {})
    assert confirmed.body["status"] == "requires_action", confirmed.body
    body: dict[str, Any] = confirmed.body
    return body


async def _stored_status(pgw: Pgw, intent_id: str) -> str:
    """The intent as stored, read without a retrieve (a retrieve would ask the provider itself)."""
    intent = await pgw.deps.uow().intents.get(intent_id)
    assert intent is not None
    return intent.status.value


async def _post(pgw: Pgw, body: bytes, headers: dict[str, str], path: str = HOOK) -> tuple[int, Any]:
    async with pgw.session.post(pgw.url + path, data=body, headers=headers) as resp:
        return resp.status, await resp.json()


def _event(pgw: Pgw, secret: str, intent: dict[str, Any], status: str, ref: str | None = None, *,
           event_id: str = "simevt_1") -> tuple[bytes, dict[str, str]]:  # fmt: skip
    body = json.dumps({"id": event_id, "type": f"payment.{status}", "payment_intent": intent["id"],
                       "reference": ref, "status": status}).encode()  # fmt: skip
    return body, signed_headers([secret], event_id, int(pgw.clock()), body)


class TestSimulatorCallbacks:
    async def test_pay_completes_the_mpm_flow_through_the_webhook_alone(
        self, pgw: Pgw, client: PgwClient, secret: str
    ) -> None:
        """pay on the simulator -> its signed webhook -> succeeded, with no sync and no retrieve."""
        pi = await _awaiting(client)
        async with pgw.session.post(f"{pgw.url}/_simulator/payment_intents/{pi['id']}/pay") as resp:
            assert (resp.status, (await resp.json())["webhook_status"]) == (200, 200)
        assert await _stored_status(pgw, pi["id"]) == "succeeded"
        assert transitions(pgw.db_path, pi["id"])[-2:] == [
            ("requires_action", "processing", "provider:simulator"),
            ("processing", "succeeded", "provider:simulator"),
        ]

    async def test_fail_moves_to_failed(self, pgw: Pgw, client: PgwClient, secret: str) -> None:
        """fail on the simulator -> failed with provider_declined, by the webhook."""
        pi = await _awaiting(client)
        async with pgw.session.post(f"{pgw.url}/_simulator/payment_intents/{pi['id']}/fail") as resp:
            assert resp.status == 200
        intent = await pgw.deps.uow().intents.get(pi["id"])
        assert intent is not None
        assert (intent.status.value, intent.failure_code) == ("failed", "provider_declined")


class TestVerification:
    async def test_wrong_or_missing_signature_is_401_and_changes_nothing(
        self, pgw: Pgw, client: PgwClient, secret: str
    ) -> None:
        """Signed with another secret, unsigned, or a tampered body: 401 invalid_signature, no row changes."""
        pi = await _awaiting(client)
        ref = (await pgw.deps.uow().intents.get(pi["id"])).provider_ref  # type: ignore[union-attr]
        before = db_snapshot(pgw.db_path)
        body, headers = _event(pgw, new_secret(), pi, "succeeded", ref)
        good_body, good_headers = _event(pgw, secret, pi, "succeeded", ref)
        tampered = good_body.replace(b'"succeeded"', b'"failed"')
        for sent, sent_headers in ((body, headers), (good_body, {}), (tampered, good_headers)):
            status, answer = await _post(pgw, sent, sent_headers)
            assert (status, answer["error"]["code"]) == (401, "invalid_signature")
        old_body, old_headers = _event(pgw, secret, pi, "succeeded", ref)
        pgw.clock.advance(301)  # the signed timestamp is now out of the tolerance
        assert (await _post(pgw, old_body, old_headers))[0] == 401
        assert db_snapshot(pgw.db_path) == before

    async def test_replay_and_out_of_order_events_are_harmless(
        self, pgw: Pgw, client: PgwClient, secret: str
    ) -> None:
        """The same verified event twice, then a late 'failed': one move only, the intent stays succeeded."""
        pi = await _awaiting(client)
        ref = (await pgw.deps.uow().intents.get(pi["id"])).provider_ref  # type: ignore[union-attr]
        body, headers = _event(pgw, secret, pi, "succeeded", ref)
        assert (await _post(pgw, body, headers))[0] == 200
        moves = transitions(pgw.db_path, pi["id"])
        assert (await _post(pgw, body, headers))[0] == 200
        late_body, late_headers = _event(pgw, secret, pi, "failed", ref, event_id="simevt_2")
        assert (await _post(pgw, late_body, late_headers))[0] == 200
        assert transitions(pgw.db_path, pi["id"]) == moves
        assert await _stored_status(pgw, pi["id"]) == "succeeded"

    async def test_event_for_another_code_is_ignored(self, pgw: Pgw, client: PgwClient, secret: str) -> None:
        """A verified event naming a reference that is not the intent's code changes nothing (200)."""
        pi = await _awaiting(client)
        body, headers = _event(pgw, secret, pi, "succeeded", "simqr_other")
        assert (await _post(pgw, body, headers))[0] == 200
        assert await _stored_status(pgw, pi["id"]) == "requires_action"


class TestBadInput:
    async def test_unknown_intent_is_acknowledged(self, pgw: Pgw, secret: str, caplog: Any) -> None:
        """An event for an intent the gateway never made: 200 (not retried forever) and a log line."""
        body = json.dumps({"payment_intent": "pi_01J0000000000000000000000Z", "status": "succeeded"}).encode()
        status, answer = await _post(pgw, body, {})
        assert (status, answer) == (200, {"received": True})
        assert "unknown payment intent" in caplog.text

    async def test_unknown_provider_body_and_size(self, pgw: Pgw, secret: str) -> None:
        """Unknown provider 404; no intent named 422; past 64 KiB 413; never a 500."""
        assert (await _post(pgw, b"{}", {}, "/v1/webhooks/nope"))[0] == 404
        status, answer = await _post(pgw, b"not json", {})
        assert (status, answer["error"]["code"]) == (422, "invalid_webhook")
        status, answer = await _post(pgw, b"{" + b" " * 70_000 + b"}", {})
        assert (status, answer["error"]["code"]) == (413, "body_too_large")
