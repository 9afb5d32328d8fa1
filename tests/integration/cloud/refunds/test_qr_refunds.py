"""QR refunds go through the provider's refund() outside the database transaction: pending is recorded first,
then succeeded or failed; a refusal gives the amount back, no answer keeps it held until the sweeper's retry.
Real server, both databases, the simulator provider settled through its `/_simulator` routes."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from cloud.bootstrap import build_deps
from cloud.domain.errors import ProviderError, ProviderUnavailable
from cloud.domain.provider_ports import ProviderResult, RefundRequest
from cloud.domain.tenants import StoreProviderConfig
from cloud.infrastructure.providers.registry import Registry
from cloud.infrastructure.providers.simulator import SimulatorProvider
from cloud.service.refunds import RETRY_AFTER_S
from cloud.settings import Settings
from cloud.testing import PgwClient, SettableClock

from ..conftest import Pgw, PgwFactory
from ..helpers import create, rows
from .helpers import refunds_path, retry_pending


class RefundingSimulator(SimulatorProvider):
    """The simulator; `trouble` makes refund() refuse ("refused"), fail ("unavailable", "bug") or wait for
    `release` ("hold")."""

    def __init__(self) -> None:
        super().__init__()
        self.trouble: str | None = None
        self.release = asyncio.Event()
        self.asked: list[RefundRequest] = []

    async def refund(
        self, reference: str, refund: RefundRequest, config: StoreProviderConfig | None
    ) -> ProviderResult:
        """Record the request, misbehave as told, else refund as the simulator does."""
        self.asked.append(refund)
        if self.trouble == "refused":
            raise ProviderError("provider refused the refund")
        if self.trouble == "unavailable":
            raise ProviderUnavailable("provider down")
        if self.trouble == "bug":
            raise RuntimeError("provider adapter bug")
        if self.trouble == "hold":
            await self.release.wait()
        return await super().refund(reference, refund, config)


@pytest.fixture
def sim() -> RefundingSimulator:
    """The provider the gateway uses."""
    return RefundingSimulator()


@pytest.fixture
async def pgw(
    pgw_factory: PgwFactory, pgw_settings: Settings, clock: SettableClock, sim: RefundingSimulator
) -> Pgw:
    """The gateway with the simulator routes on and `sim` as its provider."""
    settings = pgw_settings.with_changes(simulator_routes=True)
    deps = dataclasses.replace(build_deps(settings, clock), simulator=sim,
                               providers=Registry([sim], default="simulator"))  # fmt: skip
    return await pgw_factory(settings, deps)


async def _paid_qr(pgw: Pgw, client: PgwClient, amount: int = 1000) -> str:
    pi = await create(client, amount=amount)
    assert (await client.post(f"/v1/payment_intents/{pi['id']}/confirm", {})).status == 200
    async with pgw.session.post(f"{pgw.url}/_simulator/payment_intents/{pi['id']}/pay") as resp:
        assert resp.status == 200
    synced = await client.post(f"/v1/payment_intents/{pi['id']}/sync", {})
    assert synced.body["status"] == "succeeded", synced.body
    intent_id: str = pi["id"]
    return intent_id


async def _asked(sim: RefundingSimulator) -> None:
    """Wait (up to 2 s) until the provider has been asked to refund."""
    for _ in range(200):
        if sim.asked:
            return
        await asyncio.sleep(0.01)


def _refunded(pgw: Pgw, intent_id: str) -> int:
    found = rows(pgw.db_path, "SELECT amount_refunded FROM payment_intents WHERE id = ?", (intent_id,))
    return int(found[0][0])


class TestQrRefund:
    async def test_provider_refunds(self, pgw: Pgw, client: PgwClient, sim: RefundingSimulator) -> None:
        """The provider is asked with the refund's id as its key; the refund is succeeded, pending then
        succeeded in the Transactions."""
        intent_id = await _paid_qr(pgw, client)
        resp = await client.post(refunds_path(intent_id), {"amount": 400, "reason": "damaged"})
        assert (resp.status, resp.body["status"]) == (201, "succeeded"), resp.body
        assert [(r.refund_id, r.amount, r.reason) for r in sim.asked] == [(resp.body["id"], 400, "damaged")]
        assert _refunded(pgw, intent_id) == 400
        reasons = rows(pgw.db_path, "SELECT reason FROM transactions WHERE reason LIKE 'refund %'")
        assert sorted(r[0].split()[2] for r in reasons) == ["pending", "succeeded"]

    async def test_refusal_gives_amount_back(
        self, pgw: Pgw, client: PgwClient, sim: RefundingSimulator
    ) -> None:
        """A provider that refuses leaves the refund failed (201, not 500) and the whole amount refundable."""
        intent_id = await _paid_qr(pgw, client)
        sim.trouble = "refused"
        failed = await client.post(refunds_path(intent_id), {"amount": 1000})
        assert (failed.status, failed.body["status"]) == (201, "failed"), failed.body
        assert _refunded(pgw, intent_id) == 0
        sim.trouble = None
        again = await client.post(refunds_path(intent_id), {"amount": 1000, "reason": "retry"})
        assert (again.status, again.body["status"]) == (201, "succeeded"), again.body
        listed = await client.get(refunds_path(intent_id))
        assert [r["status"] for r in listed.body["data"]] == ["failed", "succeeded"]

    @pytest.mark.parametrize("trouble", ["unavailable", "bug", "hold"])
    async def test_no_answer_keeps_amount_held(
        self, pgw: Pgw, client: PgwClient, sim: RefundingSimulator, clock: SettableClock, trouble: str
    ) -> None:
        """Unavailable, an adapter that raises, or no answer in 2 s: the provider may have refunded, so the
        refund stays pending with its amount held; the sweeper's retry with the same request finishes it."""
        intent_id = await _paid_qr(pgw, client)
        sim.trouble = trouble
        unknown = await client.post(refunds_path(intent_id), {"amount": 1000})
        assert (unknown.status, unknown.body["status"]) == (201, "pending"), unknown.body
        assert _refunded(pgw, intent_id) == 1000
        again = await client.post(refunds_path(intent_id), {"amount": 1})
        assert (again.status, again.body["error"]["code"]) == (409, "refund_exceeds_remaining")
        sim.trouble = None
        assert await retry_pending(pgw.deps) == 0  # too young: its own request may still be out
        assert len(sim.asked) == 1
        clock.advance(RETRY_AFTER_S + 1)
        assert await retry_pending(pgw.deps) == 1
        listed = await client.get(refunds_path(intent_id))
        assert [r["status"] for r in listed.body["data"]] == ["succeeded"]
        assert _refunded(pgw, intent_id) == 1000
        assert len(sim.asked) == 2 and sim.asked[0] == sim.asked[1]

    async def test_pending_holds_the_amount(
        self, pgw: Pgw, client: PgwClient, sim: RefundingSimulator
    ) -> None:
        """While the provider works on a refund its amount is held: a refund over the rest is refused."""
        intent_id = await _paid_qr(pgw, client)
        sim.trouble = "hold"
        first = asyncio.create_task(client.post(refunds_path(intent_id), {"amount": 700}))
        await _asked(sim)
        assert _refunded(pgw, intent_id) == 700
        assert rows(pgw.db_path, "SELECT status FROM refunds") == [("pending",)]
        second = await client.post(refunds_path(intent_id), {"amount": 400})
        assert (second.status, second.body["error"]["code"]) == (409, "refund_exceeds_remaining")
        sim.release.set()
        assert (await first).body["status"] == "succeeded"

    async def test_sweeper_answered_first(
        self, pgw: Pgw, client: PgwClient, sim: RefundingSimulator, clock: SettableClock
    ) -> None:
        """The sweeper records the outcome while the request still waits on the provider: the request's own
        finish then finds the refund finished and answers what is stored; one succeeded Transaction."""
        intent_id = await _paid_qr(pgw, client)
        sim.trouble = "hold"
        first = asyncio.create_task(client.post(refunds_path(intent_id), {"amount": 700}))
        await _asked(sim)
        sim.trouble = None
        clock.advance(RETRY_AFTER_S + 1)
        assert await retry_pending(pgw.deps) == 1
        sim.release.set()
        answered = await first
        assert (answered.status, answered.body["status"]) == (201, "succeeded"), answered.body
        reasons = rows(pgw.db_path, "SELECT reason FROM transactions WHERE reason LIKE 'refund %'")
        assert sorted(r[0].split()[2] for r in reasons) == ["pending", "succeeded"]
        assert _refunded(pgw, intent_id) == 700
