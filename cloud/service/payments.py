"""Service handlers that move money: confirm (per processing mode) and provider sync."""

from __future__ import annotations

import asyncio
import dataclasses

from cloud.domain import commands as c
from cloud.domain.errors import InvalidState, ProviderUnavailable, ValidationFailed
from cloud.domain.intent import MODE_OF, MethodType, PaymentIntent, Status, Transaction, resolve_method
from cloud.domain.ports import Clock, PaymentIntentRepository, TenantRepository, UnitOfWork
from cloud.domain.provider_ports import ProviderRegistry, ProviderResult, ProviderStatus, QRProvider
from cloud.domain.tenants import Principal, StoreProviderConfig
from cloud.service.handlers import apply, load_visible

Step = tuple[PaymentIntent, Transaction]
PROVIDER_TIMEOUT_S = 2.0  # a status read must not hold a request for long (docs/cloud-api.md#qr-providers)


async def _store_provider(store_id: str, tenants: TenantRepository) -> str | None:
    """The provider the store was configured for most recently, if any (docs/providers.md#choosing)."""
    configs = await tenants.list_provider_configs(store_id)
    return max(configs, key=lambda c: c.updated_at).provider if configs else None


async def provider_of(
    intent: PaymentIntent, providers: ProviderRegistry, tenants: TenantRepository
) -> tuple[QRProvider, StoreProviderConfig | None]:
    """The intent's provider (or the store's, or the default) and the store's config of it."""
    name = intent.provider or await _store_provider(intent.store_id, tenants) or providers.default
    provider = providers.get(name)
    if provider is None:
        raise ProviderUnavailable(f"provider {name} is not configured on this gateway")
    return provider, await tenants.get_provider_config(intent.store_id, name)


async def read_status(
    intent: PaymentIntent,
    *,
    providers: ProviderRegistry,
    tenants: TenantRepository,
    timeout_s: float = PROVIDER_TIMEOUT_S,
) -> tuple[str, ProviderResult]:
    """(actor, the provider's status of the intent's reference), bounded by `timeout_s`; a provider that does
    not answer in time is ProviderUnavailable."""
    assert intent.provider_ref is not None
    provider, config = await provider_of(intent, providers, tenants)
    try:
        async with asyncio.timeout(timeout_s):
            result = await provider.status(intent.provider_ref, config)
    except TimeoutError as err:
        raise ProviderUnavailable(f"provider {provider.name} did not answer within {timeout_s:g} s") from err
    return f"provider:{provider.name}", result


async def cancel_at_provider(
    intent: PaymentIntent,
    *,
    providers: ProviderRegistry,
    tenants: TenantRepository,
    timeout_s: float = PROVIDER_TIMEOUT_S,
) -> None:
    """Withdraw the intent's code or payment at its provider, bounded by `timeout_s`; a provider that does
    not answer in time is ProviderUnavailable and the intent stays as stored (docs/providers.md#cancel)."""
    assert intent.provider_ref is not None
    provider, config = await provider_of(intent, providers, tenants)
    try:
        async with asyncio.timeout(timeout_s):
            await provider.cancel(intent.provider_ref, config)
    except TimeoutError as err:
        raise ProviderUnavailable(f"provider {provider.name} did not answer within {timeout_s:g} s") from err


def provider_steps(intent: PaymentIntent, result: ProviderResult, actor: str, now: float) -> list[Step]:
    """From requires_action or processing, follow what the provider said."""
    steps: list[Step] = []
    current = intent
    if result.status is ProviderStatus.PENDING:
        return steps
    if result.status is ProviderStatus.SUCCEEDED and current.status is Status.REQUIRES_ACTION:
        steps.append(current.transition(Status.PROCESSING, actor=actor, now=now, reason="provider_paid"))
        current = steps[-1][0]
    if result.status is ProviderStatus.SUCCEEDED:
        steps.append(current.settle(actor=actor, now=now))
    else:
        code = result.failure_code or "provider_declined"
        steps.append(current.transition(Status.FAILED, actor=actor, now=now, reason=code, failure_code=code))
    return steps


def _card_steps(intent: PaymentIntent, cmd: c.ConfirmPaymentIntent, actor: str, now: float) -> list[Step]:
    card = cmd.card_result
    if card is None:
        raise ValidationFailed("card_result is required for card / emoney", param="card_result")
    details = {k: v for k, v in vars_of(card).items() if v is not None}
    first = intent.transition(Status.PROCESSING, actor=actor, now=now, details={"card": details})
    if card.status == "approved":
        return [first, first[0].settle(actor=actor, now=now)]
    failed = first[0].transition(
        Status.FAILED, actor=actor, now=now, reason="card_declined", failure_code="card_declined"
    )
    return [first, failed]


def vars_of(card: c.CardResult) -> dict[str, str | None]:
    """The card result as a plain dict (never a card number: the reader only reports the last 4)."""
    return {
        "status": card.status,
        "approval_code": card.approval_code,
        "card_brand": card.card_brand,
        "card_last_4": card.card_last_4,
        "entry_method": card.entry_method,
    }


def _cash_steps(intent: PaymentIntent, cmd: c.ConfirmPaymentIntent, actor: str, now: float) -> list[Step]:
    if cmd.cash_received is None:
        raise ValidationFailed("cash_received is required for cash", param="cash_received")
    if cmd.cash_received < intent.amount:
        raise ValidationFailed(
            "cash_received is less than amount", code="insufficient_cash", param="cash_received"
        )
    details = {"cash_received": cmd.cash_received, "change": cmd.cash_received - intent.amount}
    first = intent.transition(Status.PROCESSING, actor=actor, now=now, details=details)
    return [first, first[0].settle(actor=actor, now=now)]


async def confirm_payment_intent(
    cmd: c.ConfirmPaymentIntent,
    caller: Principal,
    *,
    uow: UnitOfWork,
    tenants: TenantRepository,
    providers: ProviderRegistry,
    clock: Clock,
) -> PaymentIntent:
    """requires_payment_method -> requires_action (MPM), or processing -> succeeded/failed (CPM/card/cash)."""
    async with uow:
        intent = await load_visible(cmd.intent_id, caller, intents=uow.intents, clock=clock)
        moved = await _confirm(intent, cmd, caller, intents=uow.intents, tenants=tenants, providers=providers,
                               clock=clock)  # fmt: skip
        await uow.commit()
    return moved


async def _confirm(
    intent: PaymentIntent,
    cmd: c.ConfirmPaymentIntent,
    caller: Principal,
    *,
    intents: PaymentIntentRepository,
    tenants: TenantRepository,
    providers: ProviderRegistry,
    clock: Clock,
) -> PaymentIntent:
    if intent.status is not Status.REQUIRES_PAYMENT_METHOD:
        raise InvalidState(f"a payment intent in {intent.status} cannot be confirmed")
    method = resolve_method(intent.payment_method_types, cmd.payment_method_type, intent.processing_mode)
    actor, now = caller.actor, clock()
    prepared = dataclasses.replace(intent, payment_method_type=method, processing_mode=MODE_OF[method])
    if method in (MethodType.QR_MPM, MethodType.QR_CPM):
        return await _confirm_qr(
            intent,
            prepared=prepared,
            cmd=cmd,
            actor=actor,
            intents=intents,
            tenants=tenants,
            providers=providers,
            clock=clock,
        )
    if method is MethodType.CASH:
        steps = _cash_steps(prepared, cmd, actor, now)
    else:
        steps = _card_steps(prepared, cmd, actor, now)
    return await apply(intent, steps, intents=intents)


async def _confirm_qr(
    intent: PaymentIntent,
    *,
    prepared: PaymentIntent,
    cmd: c.ConfirmPaymentIntent,
    actor: str,
    intents: PaymentIntentRepository,
    tenants: TenantRepository,
    providers: ProviderRegistry,
    clock: Clock,
) -> PaymentIntent:
    provider, config = await provider_of(intent, providers, tenants)
    prepared = dataclasses.replace(prepared, provider=provider.name)
    if prepared.payment_method_type is MethodType.QR_MPM:
        result = await provider.create_mpm(prepared, config)
        step = prepared.transition(
            Status.REQUIRES_ACTION,
            actor=actor,
            now=clock(),
            qr_content=result.qr_content,
            provider_ref=result.reference,
        )
        return await apply(intent, [step], intents=intents)
    if not cmd.customer_code:
        raise ValidationFailed("customer_code is required for qr_cpm", param="customer_code")
    result = await provider.charge_cpm(prepared, cmd.customer_code, config)
    now = clock()
    first = prepared.transition(Status.PROCESSING, actor=actor, now=now, provider_ref=result.reference)
    return await apply(intent, [first, *provider_steps(first[0], result, actor, now)], intents=intents)


async def sync_payment_intent(
    cmd: c.SyncPaymentIntent,
    caller: Principal,
    *,
    uow: UnitOfWork,
    tenants: TenantRepository,
    providers: ProviderRegistry,
    clock: Clock,
) -> PaymentIntent:
    """Re-read the provider's status of a QR intent and apply it; other states come back unchanged."""
    async with uow:
        intent = await load_visible(cmd.intent_id, caller, intents=uow.intents, clock=clock)
        if intent.awaits_provider:
            actor, result = await read_status(intent, providers=providers, tenants=tenants)
            intent = await apply(intent, provider_steps(intent, result, actor, clock()), intents=uow.intents)
        await uow.commit()  # the new state, or an expiry noticed on the way
    return intent
