"""Service layer: each handler takes a command, the caller and named dependencies, and returns a result.

A handler that writes opens the unit of work it is given, uses its repositories and commits once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from cloud.domain import commands as c
from cloud.domain.errors import Conflict, Forbidden, InvalidState, NotFound, ValidationFailed
from cloud.domain.ids import PAYMENT_INTENT, is_valid_id, new_id
from cloud.domain.intent import (
    CANCELLABLE,
    MODE_OF,
    PAID,
    PaymentIntent,
    Status,
    Transaction,
    creation_transaction,
)
from cloud.domain.ports import (
    Clock,
    IntentScope,
    Page,
    PaymentIntentRepository,
    TenantRepository,
    UnitOfWork,
)
from cloud.domain.tenants import Credential, Principal, Store
from cloud.service.tokens import hash_token, mint_token

EXPIRY_ACTOR = "system:expiry"
# What the provider says about an intent, applied (cloud/service/provider_poll.py); the intent as it is now.
ProviderCheck = Callable[[PaymentIntent], Awaitable[PaymentIntent]]


@dataclass(frozen=True, slots=True)
class IssuedIntent:
    """An intent plus a freshly minted payment_token (plain text exists only in this response)."""

    intent: PaymentIntent
    payment_token: str
    token_expires_at: float


async def issue_token(
    intent: PaymentIntent, *, intents: PaymentIntentRepository, clock: Clock, token_ttl: float
) -> IssuedIntent:
    """Mint another token for an intent and stage its hash in the caller's unit of work."""
    token = mint_token()
    expires = clock() + token_ttl
    await intents.add_token(hash_token(token), intent.id, expires)
    return IssuedIntent(intent, token, expires)


async def reissue_token(
    intent_id: str, *, uow: UnitOfWork, clock: Clock, token_ttl: float
) -> IssuedIntent | None:
    """A fresh token for a stored intent (an Idempotency-Key replay of its create), or None if it is gone."""
    async with uow:
        intent = await uow.intents.get(intent_id)
        if intent is None:
            return None
        issued = await issue_token(intent, intents=uow.intents, clock=clock, token_ttl=token_ttl)
        await uow.commit()
    return issued


async def retrieve_payment_intent(
    intent_id: str,
    caller: Principal,
    *,
    uow: UnitOfWork,
    clock: Clock,
    token_ttl: float,
    provider_check: ProviderCheck | None = None,
) -> PaymentIntent | IssuedIntent:
    """The visible intent, with what its provider says applied (`provider_check`, when it awaits one); an
    HMAC caller also gets a fresh payment_token (a token holder does not)."""
    async with uow:
        intent = await load_visible(intent_id, caller, intents=uow.intents, clock=clock)
        if provider_check is not None and intent.awaits_provider:
            intent = await provider_check(intent)
        result: PaymentIntent | IssuedIntent = intent
        if isinstance(caller, Credential):
            result = await issue_token(intent, intents=uow.intents, clock=clock, token_ttl=token_ttl)
        await uow.commit()  # an expiry noticed on the way, and the token
    return result


async def _resolve_store(cmd: c.CreatePaymentIntent, caller: Credential, tenants: TenantRepository) -> Store:
    if caller.store_id is not None:
        store = await tenants.get_store(caller.store_id)
        if store is None:
            raise NotFound("the credential's store no longer exists")
        if cmd.merchant_store_id not in (None, store.code):
            raise Forbidden("a device key may only use its own store", param="merchant_store_id")
        return store
    merchant_id = cmd.merchant_id or caller.merchant_id
    if caller.merchant_id is not None and merchant_id != caller.merchant_id:
        raise NotFound("no such merchant", param="merchant_id")
    stores = await tenants.find_stores(caller.partner_id, cmd.merchant_store_id, merchant_id)
    if not stores:
        param = "merchant_store_id" if cmd.merchant_store_id else "merchant_id"
        raise NotFound("no such store for this partner", param=param)
    if len(stores) > 1:
        raise ValidationFailed(
            "merchant_store_id is ambiguous (or missing): send merchant_id and merchant_store_id",
            code="ambiguous_store",
            param="merchant_store_id",
        )
    return stores[0]


async def create_payment_intent(
    cmd: c.CreatePaymentIntent,
    caller: Credential,
    *,
    uow: UnitOfWork,
    tenants: TenantRepository,
    clock: Clock,
    token_ttl: float,
) -> IssuedIntent:
    """Create an intent in requires_payment_method with its creation Transaction and a payment_token."""
    store = await _resolve_store(cmd, caller, tenants)
    types = cmd.payment_method_types
    method = types[0] if len(types) == 1 else None
    mode = cmd.processing_mode or (MODE_OF[method] if method else None)
    if cmd.processing_mode is not None and any(MODE_OF[t] is not cmd.processing_mode for t in types):
        raise ValidationFailed("payment_method_type does not fit processing_mode", param="processing_mode")
    now = clock()
    intent = PaymentIntent(
        id=new_id(PAYMENT_INTENT),
        partner_id=store.partner_id,
        merchant_id=store.merchant_id,
        store_id=store.id,
        store_code=store.code,
        amount=cmd.amount,
        currency=cmd.currency,
        payment_method_types=types,
        merchant_ref_id=cmd.merchant_ref_id,
        created_at=now,
        expires_at=now + cmd.expires_in_minutes * 60,
        payment_method_type=method,
        processing_mode=mode,
        capture_method=cmd.capture_method,
        order_id=cmd.order_id,
        merchant_terminal_id=cmd.merchant_terminal_id,
        description=cmd.description,
        metadata=dict(cmd.metadata),
        updated_at=now,
    )
    token = mint_token()
    expires = now + token_ttl
    async with uow:
        await uow.intents.add(intent, creation_transaction(intent, caller.actor), hash_token(token), expires)
        await uow.commit()
    return IssuedIntent(intent, token, expires)


async def expire_if_due(
    intent: PaymentIntent, *, intents: PaymentIntentRepository, now: float
) -> PaymentIntent:
    """Move an untouched intent past expires_at to cancelled/expired (staged in the caller's unit of work,
    which commits it with whatever else the request changes) before anyone sees it."""
    if not intent.is_expired(now):
        return intent
    moved, txn = intent.transition(
        Status.CANCELLED, actor=EXPIRY_ACTOR, now=now, reason="expired", cancellation_reason="expired"
    )
    await intents.save(moved, [txn], intent.version)
    return dataclasses.replace(moved, version=intent.version + 1)


async def load_visible(
    intent_id: str, caller: Principal, *, intents: PaymentIntentRepository, clock: Clock
) -> PaymentIntent:
    """The intent if the caller may see it (else NotFound, never Forbidden: no existence leak)."""
    if not is_valid_id(intent_id, PAYMENT_INTENT):
        raise NotFound("no such payment_intent", param="id")
    intent = await intents.get(intent_id)
    if intent is None or not caller.can_see(intent):
        raise NotFound("no such payment_intent", param="id")
    return await expire_if_due(intent, intents=intents, now=clock())


async def apply(
    intent: PaymentIntent,
    steps: Sequence[tuple[PaymentIntent, Transaction]],
    *,
    intents: PaymentIntentRepository,
) -> PaymentIntent:
    """Stage the last state of a chain of transitions with all their Transactions (one version step)."""
    if not steps:
        return intent
    final = steps[-1][0]
    await intents.save(final, [txn for _, txn in steps], intent.version)
    return dataclasses.replace(final, version=intent.version + 1)


async def cancel_payment_intent(
    cmd: c.CancelPaymentIntent,
    caller: Principal,
    *,
    uow: UnitOfWork,
    clock: Clock,
    provider_check: ProviderCheck | None = None,
) -> PaymentIntent:
    """requires_payment_method / requires_action -> cancelled; an intent whose provider reports it paid is
    not cancelled: it moves to succeeded and the cancel is refused with intent_already_paid."""
    async with uow:
        intent = await load_visible(cmd.intent_id, caller, intents=uow.intents, clock=clock)
        if provider_check is not None and intent.awaits_provider and intent.status in CANCELLABLE:
            intent = await provider_check(intent)  # docs/cloud-api.md#cancel-and-the-provider
        if intent.status in PAID:
            raise InvalidState(
                f"the customer already paid this payment intent ({intent.status}); it cannot be cancelled",
                code="intent_already_paid",
            )
        if intent.status not in CANCELLABLE:
            raise InvalidState(f"a payment intent in {intent.status} cannot be cancelled")
        step = intent.transition(
            Status.CANCELLED,
            actor=caller.actor,
            now=clock(),
            reason=cmd.cancellation_reason,
            cancellation_reason=cmd.cancellation_reason,
        )
        moved = await apply(intent, [step], intents=uow.intents)
        await uow.commit()
    return moved


async def capture_payment_intent(
    cmd: c.CapturePaymentIntent, caller: Credential, *, uow: UnitOfWork, clock: Clock
) -> PaymentIntent:
    """requires_capture -> succeeded."""
    async with uow:
        intent = await load_visible(cmd.intent_id, caller, intents=uow.intents, clock=clock)
        if intent.status is not Status.REQUIRES_CAPTURE:
            raise InvalidState(f"only an intent in requires_capture can be captured, not {intent.status}")
        step = intent.transition(Status.SUCCEEDED, actor=caller.actor, now=clock(), reason="captured")
        moved = await apply(intent, [step], intents=uow.intents)
        await uow.commit()
    return moved


async def list_payment_intents(
    query: c.ListPaymentIntents, caller: Credential, *, intents: PaymentIntentRepository
) -> Page:
    """One page of the intents the caller may see, newest first."""
    if query.starting_after is not None and not is_valid_id(query.starting_after, PAYMENT_INTENT):
        raise ValidationFailed("starting_after must be a payment_intent id", param="starting_after")
    scope = IntentScope(caller.partner_id, caller.merchant_id, caller.store_id)
    return await intents.list(scope, query)


async def expire_due(*, uow: UnitOfWork, clock: Clock, limit: int = 100) -> int:
    """One bounded sweep: cancel (reason expired) untouched intents past expiry, one unit each (a lost race
    on one leaves the others); returns how many."""
    now = clock()
    count = 0
    for intent in await uow.intents.expired(now, limit):
        try:
            async with uow:
                await expire_if_due(intent, intents=uow.intents, now=now)
                await uow.commit()
        except Conflict:
            continue  # someone moved it first; that move wins
        count += 1
    return count


async def purge_idempotency(*, uow: UnitOfWork, older_than: float) -> None:
    """Forget Idempotency-Key records past their retention, in one unit."""
    async with uow:
        await uow.idempotency.purge(older_than)
        await uow.commit()
