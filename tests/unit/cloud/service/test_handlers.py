"""Service handlers against in-memory fakes of the ports: store resolution, scopes, tokens, expiry, races."""

from __future__ import annotations

import dataclasses

import pytest

from cloud.domain import commands as c
from cloud.domain.errors import Conflict, Forbidden, InvalidState, NotFound, ValidationFailed
from cloud.domain.intent import MethodType, ProcessingMode, Status
from cloud.domain.tenants import Credential, CredentialKind
from cloud.fakes import InMemoryIntents, InMemoryTenants, InMemoryUnitOfWork
from cloud.infrastructure.providers.registry import Registry
from cloud.infrastructure.providers.simulator import SimulatorProvider
from cloud.service import handlers as h
from cloud.service import payments as p
from cloud.service import tenants as t
from cloud.service.tokens import hash_token
from cloud.testing import SettableClock


@dataclasses.dataclass
class World:
    """Fakes plus one partner with merchants m1 (stores s1, s2) and m2 (store s1)."""

    intents: InMemoryIntents
    uow: InMemoryUnitOfWork
    tenants: InMemoryTenants
    clock: SettableClock
    partner: Credential
    stores: dict[str, str]


@pytest.fixture
async def world() -> World:
    """A seeded in-memory world."""
    tenants, clock = InMemoryTenants(), SettableClock(1_800_000_000.0)
    made = await t.create_partner(c.CreateClientPartner("P"), tenants=tenants, clock=clock)
    stores = {}
    for merchant_name, codes in (("m1", ("s1", "s2")), ("m2", ("s1",))):
        merchant = await t.create_merchant(
            c.CreateMerchant(made.partner.id, merchant_name), tenants=tenants, clock=clock
        )
        stores[merchant_name] = merchant.id
        for code in codes:
            store = await t.create_store(c.CreateStore(merchant.id, code), tenants=tenants, clock=clock)
            stores[f"{merchant_name}/{code}"] = store.id
    partner = tenants.credentials[made.api_key]
    intents = InMemoryIntents()
    return World(intents, InMemoryUnitOfWork(intents), tenants, clock, partner, stores)


def cmd(**kw: object) -> c.CreatePaymentIntent:
    """A create command with defaults."""
    base: dict[str, object] = {
        "amount": 1000,
        "currency": "JPY",
        "payment_method_types": (MethodType.CASH,),
        "merchant_ref_id": "r1",
    }
    return c.CreatePaymentIntent(**{**base, **kw})  # type: ignore[arg-type]


async def create(w: World, caller: Credential | None = None, **kw: object) -> h.IssuedIntent:
    """Run the create handler."""
    return await h.create_payment_intent(
        cmd(**kw), caller or w.partner, uow=w.uow, tenants=w.tenants, clock=w.clock, token_ttl=300
    )


class TestStoreResolution:
    async def test_code_unique_across_merchants_resolves(self, world: World) -> None:
        """s2 exists once, so the code alone picks it."""
        issued = await create(world, merchant_store_id="s2")
        assert issued.intent.store_id == world.stores["m1/s2"]

    async def test_ambiguous_code_needs_merchant_id(self, world: World) -> None:
        """s1 exists in two merchants: without merchant_id it is 422 ambiguous_store; with it, resolved."""
        with pytest.raises(ValidationFailed) as err:
            await create(world, merchant_store_id="s1")
        assert err.value.code == "ambiguous_store"
        issued = await create(world, merchant_store_id="s1", merchant_id=world.stores["m2"])
        assert issued.intent.store_id == world.stores["m2/s1"]

    async def test_unknown_code_is_not_found(self, world: World) -> None:
        """A code no store of the partner has is NotFound."""
        with pytest.raises(NotFound):
            await create(world, merchant_store_id="nope")

    async def test_device_key_implies_and_limits_its_store(self, world: World) -> None:
        """A device credential creates in its store without naming it, and may not name another."""
        device = Credential(
            "pk_dev",
            "0" * 64,
            CredentialKind.DEVICE,
            world.partner.partner_id,
            world.stores["m1"],
            world.stores["m1/s2"],
            "dev_1",
        )
        issued = await create(world, device)
        assert issued.intent.store_id == world.stores["m1/s2"]
        with pytest.raises(Forbidden):
            await create(world, device, merchant_store_id="s1", merchant_ref_id="r2")

    async def test_merchant_scoped_key_cannot_reach_other_merchant(self, world: World) -> None:
        """A key scoped to m1 naming m2 finds nothing."""
        scoped = dataclasses.replace(world.partner, merchant_id=world.stores["m1"])
        with pytest.raises(NotFound):
            await create(world, scoped, merchant_store_id="s1", merchant_id=world.stores["m2"])


class TestCreate:
    async def test_records_creation_and_stores_only_the_token_hash(self, world: World) -> None:
        """One creation Transaction by the partner; the token is kept as its hash only."""
        issued = await create(world, merchant_store_id="s2")
        assert [(x.from_status, x.to_status, x.actor) for x in world.intents.txns] == [
            (None, Status.REQUIRES_PAYMENT_METHOD, f"partner:{world.partner.partner_id}")
        ]
        assert issued.payment_token not in world.intents.tokens
        assert hash_token(issued.payment_token) in world.intents.tokens
        assert issued.token_expires_at == world.clock() + 300

    async def test_mode_must_fit_every_method(self, world: World) -> None:
        """processing_mode manual with a card method is refused."""
        with pytest.raises(ValidationFailed):
            await create(
                world,
                merchant_store_id="s2",
                payment_method_types=(MethodType.CARD,),
                processing_mode=ProcessingMode.MANUAL,
            )

    async def test_reused_merchant_ref_id_conflicts(self, world: World) -> None:
        """The same merchant_ref_id in the same merchant is a Conflict."""
        await create(world, merchant_store_id="s2")
        with pytest.raises(Conflict):
            await create(world, merchant_store_id="s2")


class TestVisibilityExpiryAndRaces:
    async def test_foreign_and_malformed_ids_are_not_found(self, world: World) -> None:
        """Another partner's intent and a malformed id both raise NotFound."""
        issued = await create(world, merchant_store_id="s2")
        stranger = dataclasses.replace(world.partner, partner_id="cp_other")
        for intent_id, caller in ((issued.intent.id, stranger), ("pi_bad", world.partner)):
            with pytest.raises(NotFound):
                await h.load_visible(intent_id, caller, intents=world.intents, clock=world.clock)

    async def test_expiry_sweep(self, world: World) -> None:
        """After expires_in_minutes the sweep cancels with reason expired, once."""
        issued = await create(world, merchant_store_id="s2", expires_in_minutes=1)
        world.clock.advance(60)
        assert await h.expire_due(uow=world.uow, clock=world.clock) == 1
        assert await h.expire_due(uow=world.uow, clock=world.clock) == 0
        moved = world.intents.intents[issued.intent.id]
        assert (moved.status, moved.cancellation_reason) == (Status.CANCELLED, "expired")

    async def test_a_lost_race_is_a_conflict_not_a_double_move(self, world: World) -> None:
        """If the intent moved after it was read, the second writer gets Conflict; nothing applies twice."""
        issued = await create(world, merchant_store_id="s2")
        stale = issued.intent
        step = stale.transition(Status.CANCELLED, actor="a", now=world.clock())
        await h.apply(stale, [step], intents=world.intents)
        with pytest.raises(Conflict):
            await h.apply(
                stale,
                [stale.transition(Status.PROCESSING, actor="b", now=world.clock())],
                intents=world.intents,
            )
        assert world.intents.intents[stale.id].status is Status.CANCELLED

    async def test_capture_only_from_requires_capture(self, world: World) -> None:
        """Capture of an intent waiting for payment is InvalidState."""
        issued = await create(world, merchant_store_id="s2")
        with pytest.raises(InvalidState):
            await h.capture_payment_intent(
                c.CapturePaymentIntent(issued.intent.id),
                world.partner,
                uow=world.uow,
                clock=world.clock,
            )

    async def test_cpm_through_the_simulator(self, world: World) -> None:
        """confirm with a customer code charges the provider and settles in one commit."""
        issued = await create(world, merchant_store_id="s2", payment_method_types=(MethodType.QR_CPM,))
        done = await p.confirm_payment_intent(
            c.ConfirmPaymentIntent(issued.intent.id, customer_code="2800000000000001"),
            world.partner,
            uow=world.uow,
            tenants=world.tenants,
            providers=Registry([SimulatorProvider()], "simulator"),
            clock=world.clock,
        )
        assert (done.status, done.provider) == (Status.SUCCEEDED, "simulator")
        assert [x.to_status for x in world.intents.txns][-2:] == [Status.PROCESSING, Status.SUCCEEDED]
        assert world.uow.commits == 2  # the create, then the confirm: one commit each


class TestTenants:
    @pytest.mark.parametrize(
        ("api_key", "secret"),
        [("short", "sk_long_enough"), ("pk bad key!", "sk_long_enough"), ("pk_good_key", "short")],
    )
    async def test_key_rules(self, api_key: str, secret: str) -> None:
        """api_key 8–128 of [A-Za-z0-9_-]; secret at least 8 characters."""
        with pytest.raises(ValidationFailed):
            await t.create_partner(
                c.CreateClientPartner("P", api_key, secret), tenants=InMemoryTenants(), clock=SettableClock()
            )
