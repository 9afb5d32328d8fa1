"""Refunds of paid intents (docs/cloud-api.md#refunds): the Refund record, the rules it obeys and its
storage port (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple, Protocol

from cloud.domain.errors import Conflict, InvalidState
from cloud.domain.intent import PaymentIntent, Status, Transaction

REFUND = "re"
EXCEEDS = "refund_exceeds_remaining"
NOT_REFUNDABLE = "payment_not_refundable"
REF_IN_USE = "merchant_refund_id_in_use"


class RefundStatus(StrEnum):
    """succeeded at once for cash and card; pending while a QR provider works on it or its answer is unknown;
    failed if it refused."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class SyncOrigin(NamedTuple):
    """Where a refund synced by a device sits in its chain: the exactly-once key and the chain link."""

    device_id: str
    local_id: str
    seq: int
    hash: str
    batch_id: str


@dataclass(frozen=True, slots=True)
class Refund:
    """`amount` minor units of a paid intent given back; a pending or succeeded one counts against it."""

    id: str
    intent_id: str
    merchant_id: str
    amount: int
    currency: str
    status: RefundStatus
    actor: str
    created_at: float
    reason: str | None = None
    merchant_refund_id: str | None = None
    provider_ref: str | None = None
    failure_code: str | None = None
    origin: SyncOrigin | None = None


def refund_object(refund: Refund) -> dict[str, Any]:
    """The public JSON of a refund: what the refund API answers and what refund.* webhook events carry as
    `data.object` (docs/cloud-api.md#refunds, #webhooks)."""
    return {
        "object": "refund",
        "id": refund.id,
        "payment_intent_id": refund.intent_id,
        "amount": refund.amount,
        "currency": refund.currency,
        "reason": refund.reason,
        "merchant_refund_id": refund.merchant_refund_id,
        "status": refund.status.value,
        "created": int(refund.created_at),
    }


class RefundFinished(Conflict):
    """A pending refund's outcome was already recorded (a racing sweeper or request came first)."""

    code = "refund_already_finished"


def exceeds(amount: int) -> Conflict:
    """The refusal of a refund larger than what is left (also what the guarded update's miss becomes)."""
    return Conflict(f"the refund of {amount} exceeds the amount not yet refunded", code=EXCEEDS,
                    param="amount")  # fmt: skip


def ref_in_use() -> Conflict:
    """The refusal of a merchant_refund_id the merchant already used."""
    return Conflict("merchant_refund_id was already used for this merchant", code=REF_IN_USE,
                    param="merchant_refund_id")  # fmt: skip


def check_refundable(intent: PaymentIntent, amount: int, reserved: int = 0) -> None:
    """Raise unless `amount` more may be refunded: the intent succeeded and amount fits in what is left
    (`reserved`: what refunds of the same batch already took and the stored intent does not show yet)."""
    if intent.status is not Status.SUCCEEDED:
        raise InvalidState(f"a payment intent in {intent.status} cannot be refunded", code=NOT_REFUNDABLE)
    if amount > intent.amount - intent.amount_refunded - reserved:
        raise exceeds(amount)


def refund_transaction(txn_id: str, refund: Refund, at: float) -> Transaction:
    """The Transaction a refund step writes on its intent: the status stays succeeded, the reason names the
    refund, its state and amount (docs/cloud-api.md#refunds)."""
    reason = f"refund {refund.id} {refund.status.value} {refund.amount}"
    return Transaction(txn_id, refund.intent_id, Status.SUCCEEDED, Status.SUCCEEDED, refund.actor, at, reason)


# How long a pending QR refund waits between tries at its provider, by its age (docs/cloud-api.md#refunds):
# (younger than this many seconds, wait this many seconds); older than the last step, RETRY_WAIT_LATE_S.
# A provider that stays silent is not hammered, and the amount stays held: the outcome is unknown.
RETRY_BACKOFF: tuple[tuple[int, int], ...] = ((3600, 30), (86400, 300))
RETRY_WAIT_LATE_S = 3600


def retry_wait_s(age_s: float) -> int:
    """Seconds a pending refund of this age waits after a try before the next one."""
    return next((wait for younger_than, wait in RETRY_BACKOFF if age_s < younger_than), RETRY_WAIT_LATE_S)


class RefundRepository(Protocol):
    """Refunds and the intents' amount_refunded (writes staged in the unit of work)."""

    async def add(self, refund: Refund, txn: Transaction) -> None:
        """Stage the refund, its Transaction and (pending or succeeded) the guarded increase of the intent's
        amount_refunded; at commit: Conflict refund_exceeds_remaining if it no longer fits, Conflict
        merchant_refund_id_in_use on a used merchant_refund_id."""

    async def add_synced(self, refunds: Sequence[tuple[Refund, Transaction]]) -> None:
        """Stage a batch's accepted refunds as `add` does; any refusal at commit is a SyncRace (re-plan)."""

    async def finish(self, refund: Refund, txn: Transaction) -> None:
        """Stage a pending refund's outcome (succeeded or failed: a failed one gives its amount back); at
        commit RefundFinished if the refund is no longer pending (nothing of the unit is written)."""

    async def pending(self, now: float, limit: int) -> Sequence[Refund]:
        """Up to `limit` pending refunds due for another try at `now`, the longest overdue first."""

    async def touch(self, refund: Refund, at: float) -> None:
        """Stage a still-pending refund's try at `at`: its next one is `retry_wait_s` of its age later."""

    async def get(self, refund_id: str) -> Refund | None:
        """The refund, or None."""

    async def of_intent(
        self, intent_id: str, *, limit: int = 100, starting_after: str | None = None
    ) -> Sequence[Refund]:
        """Up to `limit` refunds of an intent, oldest first, after the refund `starting_after` if given."""

    async def synced(self, device_id: str, local_ids: Sequence[str]) -> Mapping[str, Refund]:
        """The device's refunds already stored among these local_ids."""

    async def refund_ids_in_use(self, merchant_id: str, refs: Sequence[str]) -> set[str]:
        """Which of these merchant_refund_ids the merchant already used."""
