"""Refund handlers (docs/cloud-api.md#refunds): create (cash and card at once; QR through the provider) and
list an intent's refunds.

A QR refund takes two units of work with the provider call between them, so no database transaction waits on
the provider: the first records the refund `pending` and reserves its amount (the guarded update of
cloud/infrastructure/refunds.py, which is where racing refunds are decided); the second records what the
provider said. Only a definite refusal makes the refund `failed`, which gives its amount back. No answer (a
timeout, ProviderUnavailable, an adapter that raised) is an unknown outcome: the provider may have refunded,
so the refund stays `pending`, amount held, and the sweeper asks the provider again with the same refund id
(`retry_pending_refunds`) until it answers (docs/cloud-api.md#refunds).

A refund's final state is announced (refund.succeeded / refund.failed, docs/cloud-api.md#webhooks) by an
outbox event staged in the unit that records that state: the cash or card refund's own unit, the QR refund's
second unit. A refused refund, a rolled-back unit, or the loser of two finishers (its guarded finish fails the
whole unit) writes none; a pending refund writes none until it ends.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cloud.domain.card_data import refuse_card_numbers
from cloud.domain.errors import ProviderError, ProviderUnavailable, ValidationFailed
from cloud.domain.ids import TRANSACTION, is_valid_id, new_id
from cloud.domain.intent import PaymentIntent, ProcessingMode
from cloud.domain.ports import Clock, TenantRepository, UnitOfWork
from cloud.domain.provider_ports import ProviderRegistry, ProviderStatus, QRProvider, RefundRequest
from cloud.domain.refunds import (
    REFUND,
    RETRY_BACKOFF,
    Refund,
    RefundFinished,
    RefundStatus,
    check_refundable,
    refund_transaction,
)
from cloud.domain.tenants import Credential, StoreProviderConfig
from cloud.service.handlers import load_visible
from cloud.service.payments import PROVIDER_TIMEOUT_S, provider_of
from cloud.service.webhooks import refund_event

log = logging.getLogger("cloud.refunds")
# The first wait of RETRY_BACKOFF: a younger pending refund may still have its own request at the provider.
RETRY_AFTER_S = float(RETRY_BACKOFF[0][1])
RETRY_PAGE = 20  # pending refunds asked again per sweeper tick at most (concurrently: one tick ~ one call)


@dataclass(frozen=True, slots=True)
class CreateRefund:
    """Refund `amount` minor units of a succeeded intent."""

    intent_id: str
    amount: int
    reason: str | None = None
    merchant_refund_id: str | None = None

    def __post_init__(self) -> None:
        refuse_card_numbers({"reason": self.reason, "merchant_refund_id": self.merchant_refund_id})


async def create_refund(
    cmd: CreateRefund,
    caller: Credential,
    *,
    uow: UnitOfWork,
    new_unit: Callable[[], UnitOfWork],
    tenants: TenantRepository,
    providers: ProviderRegistry,
    clock: Clock,
) -> Refund:
    """A cash or card refund in the request's unit (`uow`: its Idempotency-Key record commits with it); a QR
    refund in units of its own (`new_unit`) around the provider call."""
    async with uow:
        intent = await load_visible(cmd.intent_id, caller, intents=uow.intents, clock=clock)
        check_refundable(intent, cmd.amount)
        qr = intent.processing_mode is ProcessingMode.PGW_PROCESSED
        refund = Refund(new_id(REFUND), intent.id, intent.merchant_id, cmd.amount, intent.currency,
                        RefundStatus.PENDING if qr else RefundStatus.SUCCEEDED, caller.actor, clock(),
                        cmd.reason, cmd.merchant_refund_id)  # fmt: skip
        if not qr:
            await _stage(uow, refund, intent.partner_id, refund.created_at, first=True)
            await uow.commit()
            return refund
        # Resolved before anything is written: a provider this gateway lacks is a 503 that changes nothing.
        provider = await provider_of(intent, providers, tenants)
    await _in_unit(new_unit(), refund, intent.partner_id, refund.created_at, first=True)
    outcome = await _at_provider(intent, refund, *provider)
    if outcome.status is RefundStatus.PENDING:  # the amount stays held till the provider decides
        return outcome
    try:
        await _in_unit(new_unit(), outcome, intent.partner_id, clock(), first=False)
    except RefundFinished:  # a sweeper recorded the provider's answer first: that is the refund now
        async with new_unit() as unit:
            stored = await unit.refunds.get(refund.id)
        assert stored is not None, "a finished refund is stored"
        return stored
    return outcome


async def retry_pending_refunds(
    *, new_unit: Callable[[], UnitOfWork], tenants: TenantRepository, providers: ProviderRegistry,
    clock: Clock, limit: int = RETRY_PAGE,
) -> int:  # fmt: skip
    """One bounded sweeper pass: ask the provider again about the pending refunds due (RETRY_BACKOFF:
    every 30 s in their first hour, every 5 min up to a day, then hourly), with the same RefundRequest so a
    repeat is the same refund, and record each answer; how many finished."""
    async with new_unit() as unit:
        due = await unit.refunds.pending(clock(), limit)
    done = await asyncio.gather(*(_retry(r, new_unit, tenants, providers, clock) for r in due),
                                return_exceptions=True)  # fmt: skip
    for refund, result in zip(due, done, strict=True):
        if isinstance(result, BaseException):  # one refund's trouble must not end the others' retries
            log.error("retry of pending refund %s failed: %s", refund.id, type(result).__name__)
    return sum(result is True for result in done)


async def _retry(
    refund: Refund, new_unit: Callable[[], UnitOfWork], tenants: TenantRepository,
    providers: ProviderRegistry, clock: Clock,
) -> bool:  # fmt: skip
    """Ask once more; finish the refund on an answer, else move it to the back of the queue."""
    async with new_unit() as unit:
        intent = await unit.intents.get(refund.intent_id)
    assert intent is not None, "a refund's intent is stored"
    try:
        outcome = await _at_provider(intent, refund, *await provider_of(intent, providers, tenants))
    except ProviderUnavailable as err:  # the provider is no longer configured here: keep holding
        outcome = _unknown(refund, intent.provider or "default", err.code)
    if outcome.status is RefundStatus.PENDING:
        async with new_unit() as unit:
            await unit.refunds.touch(refund, clock())
            await unit.commit()
        return False
    try:
        await _in_unit(new_unit(), outcome, intent.partner_id, clock(), first=False)
    except RefundFinished:  # a racing sweeper (or the request itself) recorded it first
        return False
    return True


async def _in_unit(unit: UnitOfWork, refund: Refund, partner_id: str, at: float, *, first: bool) -> None:
    """Commit the pending refund (first) or its outcome in a unit of its own (see `_stage`)."""
    async with unit:
        await _stage(unit, refund, partner_id, at, first=first)
        await unit.commit()


async def _stage(unit: UnitOfWork, refund: Refund, partner_id: str, at: float, *, first: bool) -> None:
    """Stage the new refund (first) or a pending refund's outcome, its Transaction at `at`, and, for a final
    state, its refund.* event, all in `unit`: they commit together or not at all."""
    txn = refund_transaction(new_id(TRANSACTION), refund, at)
    await (unit.refunds.add(refund, txn) if first else unit.refunds.finish(refund, txn))
    event = refund_event(refund, partner_id, at)
    if event is not None:
        await unit.outbox.add(event)


async def _at_provider(
    intent: PaymentIntent, refund: Refund, provider: QRProvider, config: StoreProviderConfig | None
) -> Refund:
    """The refund as the provider left it: succeeded, failed (with why) or still pending."""
    assert intent.provider_ref is not None, "a succeeded QR intent has its provider's reference"
    request = RefundRequest(refund.id, refund.amount, refund.currency, refund.reason)
    try:
        async with asyncio.timeout(PROVIDER_TIMEOUT_S):
            result = await provider.refund(intent.provider_ref, request, config)
    except TimeoutError:
        return _unknown(refund, provider.name, "provider_timeout")
    except ProviderUnavailable as err:
        return _unknown(refund, provider.name, err.code)
    except ProviderError as err:  # the provider answered and refused: nothing was refunded
        return dataclasses.replace(refund, status=RefundStatus.FAILED, failure_code=err.code)
    except Exception as err:  # an adapter bug may have come after the request went out: unknown too
        return _unknown(refund, provider.name, type(err).__name__)
    status = {ProviderStatus.SUCCEEDED: RefundStatus.SUCCEEDED, ProviderStatus.FAILED: RefundStatus.FAILED,
              ProviderStatus.PENDING: RefundStatus.PENDING}[result.status]  # fmt: skip
    return dataclasses.replace(refund, status=status, provider_ref=result.reference,
                               failure_code=result.failure_code)  # fmt: skip


def _unknown(refund: Refund, provider: str, why: str) -> Refund:
    """The refund kept pending, amount held: the provider may have refunded (docs/cloud-api.md#refunds)."""
    # Only names and codes: an error's text could quote a request or a credential.
    log.warning("provider %s refund %s: outcome unknown (%s), kept pending", provider, refund.id, why)
    return dataclasses.replace(refund, status=RefundStatus.PENDING)


async def list_refunds(
    intent_id: str, caller: Credential, *, uow: UnitOfWork, clock: Clock, limit: int = 100,
    starting_after: str | None = None,
) -> tuple[Sequence[Refund], bool]:  # fmt: skip
    """A page of the refunds of an intent the caller may see, oldest first, and whether more follow."""
    if starting_after is not None and not is_valid_id(starting_after, REFUND):
        raise ValidationFailed("starting_after must be a refund id", param="starting_after")
    async with uow:
        await load_visible(intent_id, caller, intents=uow.intents, clock=clock)
        found = await uow.refunds.of_intent(intent_id, limit=limit + 1, starting_after=starting_after)
    return found[:limit], len(found) > limit
