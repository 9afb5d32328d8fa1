"""Inbound provider webhooks (docs/cloud-api.md#inbound-provider-webhooks): a verified event moves its intent
through the same state machine and Transactions as `POST …/sync`; anything else changes nothing.

Order of checks: the body must name an intent (else 400); an intent we do not know is acknowledged and
logged (no key to check it with, and nothing to change: a provider must not retry it forever); then the
provider's own signature under the store's config (else WebhookRejected, 401). A replayed or late event
finds the intent already moved on and is acknowledged without effect.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from cloud.domain.errors import Conflict, DomainError, InvalidState, ValidationFailed
from cloud.domain.ids import PAYMENT_INTENT, is_valid_id
from cloud.domain.intent import PaymentIntent, Status
from cloud.domain.ports import Clock, TenantRepository, UnitOfWork
from cloud.domain.provider_ports import InboundWebhook, ProviderEvent, WebhookSource
from cloud.service.handlers import apply
from cloud.service.payments import provider_steps

log = logging.getLogger(__name__)
ATTEMPTS = 3  # a lost race with a concurrent move is re-read and judged again


class WebhookRejected(DomainError):
    """The provider's signature is missing or does not hold (401)."""

    code = "invalid_signature"


@dataclass(frozen=True, slots=True)
class Received:
    """What became of an acknowledged event (logged; the provider only sees 200)."""

    outcome: str  # applied | unchanged | unknown_intent | ignored
    status: Status | None = None


async def receive_event(
    provider: str,
    webhook: InboundWebhook,
    *,
    source: WebhookSource,
    uow: Callable[[], UnitOfWork],
    tenants: TenantRepository,
    clock: Clock,
) -> Received:
    """Verify the event and apply it to its intent (see the module doc for the order of checks)."""
    intent_id = source.intent_of(webhook.body)
    if intent_id is None:
        raise ValidationFailed("the webhook body names no payment intent", code="invalid_webhook")
    intent = await uow().intents.get(intent_id) if is_valid_id(intent_id, PAYMENT_INTENT) else None
    if intent is None:
        log.warning("%s webhook for an unknown payment intent acknowledged, nothing changed", provider)
        return Received("unknown_intent")
    config = await tenants.get_provider_config(intent.store_id, provider)
    event = source.read(webhook, config, clock())
    if event is None or event.intent_id != intent.id:
        raise WebhookRejected(f"the {provider} webhook signature does not hold")
    for _ in range(ATTEMPTS):
        try:
            return await _apply(provider, intent, event, uow, clock)
        except Conflict:  # moved meanwhile (a poll, a cancel): judge the event against the new state
            found = await uow().intents.get(intent.id)
            if found is None:  # pragma: no cover — intents are never deleted
                break
            intent = found
    return Received("unchanged", intent.status)


async def _apply(
    provider: str, intent: PaymentIntent, event: ProviderEvent, uow: Callable[[], UnitOfWork], clock: Clock
) -> Received:
    if intent.provider not in (None, provider) or (
        event.reference is not None and event.reference != intent.provider_ref
    ):
        log.warning("%s webhook about another code of %s ignored", provider, intent.id)
        return Received("ignored", intent.status)
    if not intent.awaits_provider:
        if intent.status is Status.REQUIRES_PAYMENT_METHOD:
            # Not confirmed yet (the confirm may still be committing): the provider should try again later.
            raise InvalidState("this payment intent is not awaiting its provider yet")
        return Received("unchanged", intent.status)
    steps = provider_steps(intent, event.result, f"provider:{provider}", clock())
    if not steps:
        return Received("unchanged", intent.status)
    unit = uow()
    async with unit:
        moved = await apply(intent, steps, intents=unit.intents)
        await unit.commit()
    log.info("%s webhook moved %s to %s", provider, intent.id, moved.status)
    return Received("applied", moved.status)
