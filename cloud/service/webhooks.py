"""Outbound webhooks (docs/cloud-api.md#webhooks): events staged with the change they announce, endpoint
administration, and the dispatcher that delivers, retries on schedule and disables a long-failing endpoint.

Every move of an intent is saved through `PaymentIntentRepository.save` in some unit of work, and every sync
batch through `SyncRepository.add`; `with_events` wraps those two of each unit so that the event joins the
same unit (so the same transaction): no handler has to remember to announce anything. A batch's event comes
with one refund.succeeded per refund item it accepted. The refunds of the refund API and the sweeper stage
their refund.* event themselves beside the write that records the refund's final state (`refund_event`,
cloud/service/refunds.py): that write's guard decides a race, so the loser's event is discarded with its unit.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cloud.domain import ids
from cloud.domain.errors import NotFound, ValidationFailed
from cloud.domain.intent import PaymentIntent, Transaction
from cloud.domain.ports import (
    Clock,
    Outbox,
    PaymentIntentRepository,
    TenantRepository,
    UnitOfWork,
    WebhookRepository,
    WebhookSender,
)
from cloud.domain.refunds import Refund, refund_object
from cloud.domain.sync import BatchWrite, SyncRepository
from cloud.domain.webhooks import (
    ENDPOINT,
    EVENT,
    DueDelivery,
    EndpointStatus,
    Event,
    EventType,
    Outcome,
    TargetPolicy,
    WebhookEndpoint,
    event_body,
    intent_event_type,
    new_secret,
    next_attempt,
    parse_events,
    refund_event_type,
    signed_headers,
)

log = logging.getLogger(__name__)
Render = Callable[[PaymentIntent], Mapping[str, Any]]  # the intent's public JSON (cloud/api/views.py)


class EventedIntents:
    """A unit's intent repository that stages a payment_intent.* event beside every move it saves."""

    def __init__(self, inner: PaymentIntentRepository, outbox: Outbox, render: Render) -> None:
        self._inner, self._outbox, self._render = inner, outbox, render

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)  # every other call is the repository's own

    async def save(self, intent: PaymentIntent, txns: Sequence[Transaction], expected_version: int) -> None:
        """Save, and stage the event the move announces (if any) in the same unit."""
        await self._inner.save(intent, txns, expected_version)
        kind = intent_event_type(intent, txns)
        if kind is not None:
            shown = dataclasses.replace(intent, version=expected_version + 1)
            event = make_event(kind, intent.partner_id, txns[-1].created_at, self._render(shown))
            await self._outbox.add(event)


class EventedSync:
    """A unit's sync repository that stages sync_batch.processed beside every batch it writes, and the
    refund.* event of each refund item the batch accepted (in the batch's one transaction: a batch that
    loses a race is re-planned in a fresh unit, and a replayed item is a duplicate, accepted no more)."""

    def __init__(self, inner: SyncRepository, outbox: Outbox) -> None:
        self._inner, self._outbox = inner, outbox

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def add(self, batch: BatchWrite) -> None:
        """Write the batch and stage its event."""
        await self._inner.add(batch)
        obj = {"object": "sync_batch", "batch_id": batch.batch_id, "device_id": batch.device_id,
               "store_id": batch.store.id, "merchant_id": batch.store.merchant_id, "items": batch.items,
               "accepted": len(batch.accepted), "duplicates": batch.duplicates,
               "rejected": len(batch.rejections), "received_at": int(batch.received_at)}  # fmt: skip
        await self._outbox.add(make_event(EventType.SYNC_BATCH_PROCESSED, batch.store.partner_id,
                                          batch.received_at, obj))  # fmt: skip
        for refund, _txn in batch.refunds:
            event = refund_event(refund, batch.store.partner_id, batch.received_at)
            if event is not None:
                await self._outbox.add(event)


def make_event(kind: EventType, partner_id: str, at: float, obj: Mapping[str, Any]) -> Event:
    """A new event with a fresh id and its final body."""
    event_id = ids.new_id(EVENT)
    return Event(event_id, kind.value, partner_id, at, event_body(event_id, kind.value, at, obj))


def refund_event(refund: Refund, partner_id: str, at: float) -> Event | None:
    """The refund.succeeded / refund.failed event of a refund's final state, its `data.object` the refund as
    the API shows it; None for a pending refund (docs/cloud-api.md#webhooks)."""
    kind = refund_event_type(refund)
    return None if kind is None else make_event(kind, partner_id, at, refund_object(refund))


def with_events(make: Callable[[], UnitOfWork], render: Render) -> Callable[[], UnitOfWork]:
    """A unit-of-work factory whose units announce their moves (the composition root wires it)."""

    def evented() -> UnitOfWork:
        uow = make()
        uow.intents = EventedIntents(uow.intents, uow.outbox, render)
        uow.sync = EventedSync(uow.sync, uow.outbox)
        return uow

    return evented


# --- administration -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AddEndpoint:
    """Register a partner's receiver."""

    partner_id: str
    url: str
    events: str | None = None


async def add_endpoint(cmd: AddEndpoint, *, webhooks: WebhookRepository, tenants: TenantRepository,
                       policy: TargetPolicy, clock: Clock) -> WebhookEndpoint:  # fmt: skip
    """A new enabled endpoint with a fresh whsec_ secret (the only time it is shown is this result)."""
    if await tenants.get_partner(cmd.partner_id) is None:
        raise NotFound(f"no client partner {cmd.partner_id}", param="partner")
    url, events = policy.check_url(cmd.url), parse_events(cmd.events)
    endpoint = WebhookEndpoint(ids.new_id(ENDPOINT), cmd.partner_id, url, events, new_secret(),
                               EndpointStatus.ENABLED, clock())  # fmt: skip
    await webhooks.add_endpoint(endpoint)
    return endpoint


async def set_enabled(endpoint_id: str, enabled: bool, *, webhooks: WebhookRepository,
                      clock: Clock) -> WebhookEndpoint:  # fmt: skip
    """Disable by hand, or re-enable (after an auto-disable too); the endpoint as it is now."""
    await webhooks.set_status(endpoint_id, enabled, None if enabled else "by_admin", clock())
    found = await webhooks.get_endpoint(endpoint_id)
    if found is None:
        raise NotFound("no such webhook endpoint", param="endpoint")
    return found


def endpoint_json(e: WebhookEndpoint) -> dict[str, Any]:
    """What administration shows of an endpoint (never its secret)."""
    return {"id": e.id, "partner_id": e.partner_id, "url": e.url, "events": list(e.events),
            "status": e.status.value, "disabled_reason": e.disabled_reason, "created_at": int(e.created_at),
            "failing_since": None if e.failing_since is None else int(e.failing_since)}  # fmt: skip


def check_event_id(event_id: str) -> str:
    """An evt_ id, else 422."""
    if not ids.is_valid_id(event_id, EVENT):
        raise ValidationFailed("not an event id (evt_…)", param="event")
    return event_id


# --- delivery -------------------------------------------------------------------------------------------

LEASE_S = 60.0  # a claimed delivery is due again this long after a crash mid-send (> the send timeout)


@dataclass(slots=True)
class Dispatcher:
    """Delivers due deliveries concurrently, records every attempt, schedules the retries."""

    webhooks: WebhookRepository
    sender: WebhookSender
    clock: Clock
    rand: Callable[[], float] = random.random  # jitter; tests pin it
    batch: int = 64
    concurrency: int = 16  # one slow receiver holds one slot, never the others

    async def deliver_due(self) -> int:
        """One bounded pass: claim what is due now, send it all, record each outcome; how many were sent."""
        due = await self.webhooks.claim_due(self.clock(), self.batch, LEASE_S)
        if due:
            gate = asyncio.Semaphore(self.concurrency)
            await asyncio.gather(*(self._deliver(d, gate) for d in due))
        return len(due)

    async def _deliver(self, d: DueDelivery, gate: asyncio.Semaphore) -> None:
        async with gate:
            stamp = int(self.clock())
            try:
                headers = {**signed_headers([d.secret], d.event_id, stamp, d.body),
                           "Content-Type": "application/json", "User-Agent": "mpac-pgw-webhooks"}  # fmt: skip
                result = await self.sender.post(d.url, headers, d.body)
            except Exception:  # a bug must not lose the delivery: it is retried after the lease
                log.exception("webhook delivery of %s to %s failed", d.event_id, d.endpoint_id)
                return
        now = self.clock()
        next_at = None if result.ok else next_attempt(d.attempts + 1, now, self.rand())
        outcome = Outcome(d, result, now, next_at, gave_up=not result.ok and next_at is None)
        await self.webhooks.record(outcome)
        if outcome.gave_up:
            log.warning("webhook %s to endpoint %s given up after %d attempts", d.event_id, d.endpoint_id,
                        d.attempts + 1)  # fmt: skip
