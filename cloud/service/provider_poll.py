"""The gateway learns a QR provider's outcome by itself: on retrieve (throttled) and before a cancel.

docs/cloud-api.md, "Learning the provider's outcome": a retrieve of an intent that awaits its provider reads
the provider's status at most once per intent per `interval_s` in this process, bounded by a short timeout; a
provider error leaves the intent as stored. A cancel always reads first, and a provider error refuses it
(never a blind cancel of money that may be collected). What the provider says is applied through the same
state machine and Transactions as `POST …/sync`, in a unit of work of its own, so it is kept even when the
request that learned it answers with an error (a cancel of a paid intent).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from cloud.domain.errors import Conflict, ProviderError, ProviderUnavailable
from cloud.domain.intent import PaymentIntent
from cloud.domain.ports import Clock, TenantRepository, UnitOfWork
from cloud.domain.provider_ports import ProviderRegistry
from cloud.service.handlers import apply
from cloud.service.payments import PROVIDER_TIMEOUT_S, cancel_at_provider, provider_steps, read_status

log = logging.getLogger(__name__)
POLL_INTERVAL_S = 1.0
MAX_TRACKED = 10_000  # intents remembered by the throttle; the oldest go first


class PollThrottle:
    """At most one provider read per intent per `interval_s` (in this process), over a bounded memory."""

    def __init__(self, interval_s: float = POLL_INTERVAL_S, max_tracked: int = MAX_TRACKED) -> None:
        self._interval = interval_s
        self._max = max_tracked
        self._last: dict[str, float] = {}  # insertion order is the order of the reads

    def admit(self, intent_id: str, now: float) -> bool:
        """True (and remembered) if this intent's provider was not read within the interval."""
        last = self._last.get(intent_id)
        if last is not None and now - last < self._interval:
            return False
        self.note(intent_id, now)
        return True

    def note(self, intent_id: str, now: float) -> None:
        """Remember a read of this intent's provider at `now`."""
        self._last.pop(intent_id, None)
        self._last[intent_id] = now
        for oldest, at in list(self._last.items()):
            if len(self._last) <= self._max and now - at < self._interval:
                break
            del self._last[oldest]

    def __len__(self) -> int:
        return len(self._last)


@dataclass(slots=True)
class ProviderPoll:
    """Reads an intent's provider and applies the answer in a unit of its own."""

    uow: Callable[[], UnitOfWork]
    tenants: TenantRepository
    providers: ProviderRegistry
    clock: Clock
    throttle: PollThrottle = field(default_factory=PollThrottle)
    timeout_s: float = PROVIDER_TIMEOUT_S

    async def on_retrieve(self, intent: PaymentIntent) -> PaymentIntent:
        """The intent after a throttled provider read; as stored when throttled or when the provider fails."""
        if not intent.awaits_provider or not self.throttle.admit(intent.id, self.clock()):
            return intent
        try:
            return await self._learn(intent)
        except ProviderUnavailable as err:
            log.warning("provider status of %s not read on retrieve: %s", intent.id, err.message)
        except Exception:  # never a 5xx on retrieve (docs/cloud-api.md#learning-the-providers-outcome)
            log.exception("provider status of %s failed on retrieve", intent.id)
        return intent

    async def before_cancel(self, intent: PaymentIntent) -> PaymentIntent:
        """The intent after an unthrottled provider read; ProviderUnavailable when the provider fails."""
        if not intent.awaits_provider:
            return intent
        self.throttle.note(intent.id, self.clock())
        learned = await self._learn(intent)
        if not learned.awaits_provider:
            return learned
        # still unpaid: withdraw it at the provider before it is cancelled here; a provider error leaves the
        # intent unchanged, and a payment that raced the withdrawal is read back (docs/providers.md#cancel)
        try:
            await cancel_at_provider(
                learned, providers=self.providers, tenants=self.tenants, timeout_s=self.timeout_s
            )
        except ProviderError:  # it answered but would not withdraw: perhaps the customer has just paid
            after = await self._learn(learned)
            if after.awaits_provider:
                raise  # not withdrawn and not paid: never cancelled here (docs/providers.md#cancel)
            return after
        return learned

    async def _learn(self, intent: PaymentIntent) -> PaymentIntent:
        actor, result = await read_status(
            intent, providers=self.providers, tenants=self.tenants, timeout_s=self.timeout_s
        )
        steps = provider_steps(intent, result, actor, self.clock())
        if not steps:
            return intent
        uow = self.uow()
        try:
            async with uow:
                moved = await apply(intent, steps, intents=uow.intents)
                await uow.commit()
        except Conflict:  # moved meanwhile: that move wins (docs/cloud-api.md#learning-the-providers-outcome)
            async with uow:
                stored = await uow.intents.get(intent.id)
            return stored or intent
        return moved
