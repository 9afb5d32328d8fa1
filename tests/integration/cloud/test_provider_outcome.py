"""The gateway learns a QR provider's outcome by itself (docs/cloud-api.md#learning-the-providers-outcome):
retrieve reads the provider (throttled, bounded, never a 5xx), and a cancel of a provider-paid intent is
refused with 409 intent_already_paid while the intent shows succeeded. A real server on loopback, a real
SQLite file, the simulator provider settled through its `/_simulator` routes."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from cloud.api.intents import PROVIDER_POLL
from cloud.bootstrap import build_deps
from cloud.domain.errors import ProviderUnavailable
from cloud.domain.provider_ports import ProviderResult
from cloud.domain.tenants import StoreProviderConfig
from cloud.infrastructure.providers.registry import Registry
from cloud.infrastructure.providers.simulator import SimulatorProvider
from cloud.settings import Settings
from cloud.testing import PgwClient, SettableClock

from .conftest import Pgw, PgwFactory
from .helpers import create, rows, transitions

RPM, RA, PROC = "requires_payment_method", "requires_action", "processing"
SIM = "provider:simulator"


class ObservedSimulator(SimulatorProvider):
    """The simulator provider, counting status reads; `trouble` makes them fail, break or hang."""

    def __init__(self) -> None:
        super().__init__()
        self.status_calls = 0
        self.trouble: str | None = None  # None | "unavailable" | "bug" | "hang"
        self.delay_s = 0.0

    async def status(self, reference: str, config: StoreProviderConfig | None) -> ProviderResult:
        """Count, then misbehave as told or answer as the simulator does."""
        self.status_calls += 1
        await asyncio.sleep(self.delay_s)
        if self.trouble == "unavailable":
            raise ProviderUnavailable("provider down")
        if self.trouble == "bug":
            raise RuntimeError("provider adapter bug")
        if self.trouble == "hang":
            await asyncio.Event().wait()
        return await super().status(reference, config)


@pytest.fixture
def observed() -> ObservedSimulator:
    """The counting simulator; the `/_simulator` routes settle its codes."""
    return ObservedSimulator()


@pytest.fixture
async def pgw(pgw_factory: PgwFactory, pgw_settings: Settings, clock: SettableClock,
              observed: ObservedSimulator) -> Pgw:
    """The gateway with the simulator routes on and the observed provider registered as `simulator`."""
    settings = pgw_settings.with_changes(simulator_routes=True)
    deps = dataclasses.replace(build_deps(settings, clock), simulator=observed,
                               providers=Registry([observed], default="simulator"))
    return await pgw_factory(settings, deps)


async def _shown(client: PgwClient) -> str:
    """An MPM intent confirmed: its code is shown, requires_action; its id."""
    pi = await create(client)
    resp = await client.post(f"/v1/payment_intents/{pi['id']}/confirm", {})
    assert (resp.status, resp.body["status"]) == (200, RA), resp.body
    intent_id: str = pi["id"]
    return intent_id


async def _settle(pgw: Pgw, intent_id: str, outcome: str) -> None:
    async with pgw.session.post(f"{pgw.url}/_simulator/payment_intents/{intent_id}/{outcome}") as resp:
        assert (resp.status, (await resp.json())["marked"]) == (200, outcome)


async def _status(client: PgwClient, intent_id: str) -> str:
    resp = await client.get(f"/v1/payment_intents/{intent_id}")
    assert resp.status == 200, resp.body
    status: str = resp.body["status"]
    return status


def _learned(pgw: Pgw, intent_id: str) -> list[tuple[str | None, str, str]]:
    return transitions(pgw.db_path, intent_id)[2:]  # after created and requires_action


class TestRetrieveLearnsTheOutcome:
    async def test_paid_code_reads_succeeded_without_sync(
        self, pgw: Pgw, client: PgwClient, clock: SettableClock
    ) -> None:
        """After the simulator marks the code paid, a plain GET answers succeeded, with the same Transactions
        as POST …/sync writes."""
        intent_id = await _shown(client)
        clock.advance(1)
        assert await _status(client, intent_id) == RA
        await _settle(pgw, intent_id, "pay")
        clock.advance(1)
        assert await _status(client, intent_id) == "succeeded"
        assert _learned(pgw, intent_id) == [(RA, PROC, SIM), (PROC, "succeeded", SIM)]
        clock.advance(1)
        assert await _status(client, intent_id) == "succeeded"  # final: the provider is not asked again
        assert len(transitions(pgw.db_path, intent_id)) == 4

    async def test_failed_code_reads_failed(self, pgw: Pgw, client: PgwClient, clock: SettableClock) -> None:
        """A code the provider reports failed reads failed / provider_declined on GET."""
        intent_id = await _shown(client)
        await _settle(pgw, intent_id, "fail")
        clock.advance(1)
        resp = await client.get(f"/v1/payment_intents/{intent_id}")
        assert (resp.body["status"], resp.body["failure_code"]) == ("failed", "provider_declined")
        assert _learned(pgw, intent_id) == [(RA, "failed", SIM)]

    async def test_token_holder_sees_it_too(self, pgw: Pgw, client: PgwClient, clock: SettableClock) -> None:
        """A payment_token retrieve (the customer's browser) reads the provider the same way."""
        pi = await create(client)
        await client.post(f"/v1/payment_intents/{pi['id']}/confirm", {})
        await _settle(pgw, pi["id"], "pay")
        clock.advance(1)
        resp = await client.get(f"/v1/payment_intents/{pi['id']}?payment_token={pi['payment_token']}",
                                signed=False)  # fmt: skip
        assert (resp.status, resp.body["status"]) == (200, "succeeded"), resp.body


class TestThrottle:
    async def test_one_provider_read_per_intent_per_second(
        self, pgw: Pgw, client: PgwClient, clock: SettableClock, observed: ObservedSimulator
    ) -> None:
        """Twenty concurrent GETs of one intent read the provider once; within the same second the paid code
        is not read again; a second later it is."""
        intent_id = await _shown(client)
        observed.delay_s = 0.05  # the reads overlap
        clock.advance(1)
        answers = await asyncio.gather(*(_status(client, intent_id) for _ in range(20)))
        assert set(answers) == {RA} and observed.status_calls == 1
        await _settle(pgw, intent_id, "pay")
        assert await _status(client, intent_id) == RA and observed.status_calls == 1
        clock.advance(1)
        assert await _status(client, intent_id) == "succeeded" and observed.status_calls == 2

    async def test_each_intent_has_its_own_budget(
        self, pgw: Pgw, client: PgwClient, clock: SettableClock, observed: ObservedSimulator
    ) -> None:
        """Two intents retrieved in the same second each get their provider read."""
        first, second = await _shown(client), await _shown(client)
        clock.advance(1)
        await _status(client, first)
        await _status(client, second)
        assert observed.status_calls == 2


class TestProviderTrouble:
    @pytest.mark.parametrize("trouble", ["unavailable", "bug", "hang"])
    async def test_retrieve_answers_the_stored_state(
        self, pgw: Pgw, client: PgwClient, clock: SettableClock, observed: ObservedSimulator, trouble: str
    ) -> None:
        """A provider that errors, breaks or never answers leaves the intent as it is: 200 requires_action
        within the poll's timeout, no Transaction; once it answers again the next read settles it."""
        pgw.app[PROVIDER_POLL].timeout_s = 0.2
        intent_id = await _shown(client)
        await _settle(pgw, intent_id, "pay")
        observed.trouble = trouble
        clock.advance(1)
        async with asyncio.timeout(30):  # generous bound: the poll gives up after 0.2 s
            assert await _status(client, intent_id) == RA
        assert observed.status_calls == 1 and _learned(pgw, intent_id) == []
        observed.trouble = None
        clock.advance(1)
        assert await _status(client, intent_id) == "succeeded"


class TestCancelOfAPaidIntent:
    async def test_refused_and_the_intent_shows_succeeded(
        self, pgw: Pgw, client: PgwClient, observed: ObservedSimulator
    ) -> None:
        """Cancel reads the provider first, even within the retrieve throttle: paid → 409
        intent_already_paid, the intent succeeded, no cancelled Transaction; a replay with the same
        Idempotency-Key answers the same 409."""
        intent_id = await _shown(client)
        assert await _status(client, intent_id) == RA  # spends this second's retrieve budget
        await _settle(pgw, intent_id, "pay")
        key = {"Idempotency-Key": f"{intent_id}:cancel"}
        resp = await client.post(f"/v1/payment_intents/{intent_id}/cancel", {}, headers=key)
        assert (resp.status, resp.body["error"]["code"]) == (409, "intent_already_paid"), resp.body
        assert resp.body["error"]["type"] == "invalid_request_error"
        assert await _status(client, intent_id) == "succeeded"
        assert _learned(pgw, intent_id) == [(RA, PROC, SIM), (PROC, "succeeded", SIM)]
        client.clock.advance(1)
        again = await client.post(f"/v1/payment_intents/{intent_id}/cancel", {}, headers=key)
        assert (again.status, again.body["error"]["code"]) == (409, "intent_already_paid")
        assert again.headers.get("Idempotent-Replayed") == "true"
        (paid,) = rows(pgw.db_path, "SELECT status, amount FROM payment_intents WHERE id=?", (intent_id,))
        assert paid == ("succeeded", 1000)

    async def test_failed_code_is_not_cancelled_either(self, pgw: Pgw, client: PgwClient) -> None:
        """A code the provider declined ends failed (the provider's word), the cancel is 409 invalid_state."""
        intent_id = await _shown(client)
        await _settle(pgw, intent_id, "fail")
        resp = await client.post(f"/v1/payment_intents/{intent_id}/cancel", {})
        assert (resp.status, resp.body["error"]["code"]) == (409, "invalid_state")
        assert _learned(pgw, intent_id) == [(RA, "failed", SIM)]

    async def test_unpaid_code_is_cancelled(
        self, pgw: Pgw, client: PgwClient, observed: ObservedSimulator
    ) -> None:
        """Still pending at the provider: the cancel goes through as before."""
        intent_id = await _shown(client)
        resp = await client.post(f"/v1/payment_intents/{intent_id}/cancel", {})
        assert (resp.status, resp.body["status"]) == (200, "cancelled")
        assert observed.status_calls == 1
        assert _learned(pgw, intent_id)[-1][:2] == (RA, "cancelled")

    async def test_provider_down_refuses_the_cancel(
        self, pgw: Pgw, client: PgwClient, observed: ObservedSimulator
    ) -> None:
        """The provider cannot say whether the customer paid: 503 provider_unavailable, nothing cancelled."""
        intent_id = await _shown(client)
        observed.trouble = "unavailable"
        resp = await client.post(f"/v1/payment_intents/{intent_id}/cancel", {})
        assert (resp.status, resp.body["error"]["code"]) == (503, "provider_unavailable"), resp.body
        assert _learned(pgw, intent_id) == []
