"""Pure pieces of the uploader: pass results and turning a batch response into per-item outcomes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sync.batch import OutboxItem
from sync.models import BatchResponse, ItemError, ItemResult


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    """A final verdict on one item: `acked` (with the cloud intent id) or `rejected` (with the error)."""

    local_id: str
    state: str
    cloud_intent_id: str | None = None
    error: str | None = None
    refund_id: str | None = None  # re_… for an acknowledged refund item


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What one pass (one or several batches) did; `pending` = not yet acknowledged after it."""

    sent: int = 0
    acked: int = 0
    rejected: int = 0
    duplicates: int = 0
    pending: int = 0

    @property
    def progressed(self) -> bool:
        """Did the pass settle any item (acked or quarantined)? Sent-but-unanswered is not progress, so a
        cloud that keeps omitting results cannot make the monitor spin."""
        return bool(self.acked or self.rejected)

    def __add__(self, other: SyncResult) -> SyncResult:
        return SyncResult(self.sent + other.sent, self.acked + other.acked, self.rejected + other.rejected,
                          self.duplicates + other.duplicates, other.pending)


@dataclass(frozen=True, slots=True)
class Verdicts:
    """Outcomes to store, items with no usable result (back to the queue), and the counts."""

    outcomes: list[ItemOutcome] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    result: SyncResult = SyncResult()


def rejection_text(error: ItemError | None) -> str:
    """The JSON stored in sales.sync_error for a quarantined item."""
    if error is None:
        return '{"code":"rejected","message":"rejected without a reason"}'
    return error.model_dump_json(exclude_none=True)


def _acks(res: ItemResult | None) -> bool:
    """Is this result an acknowledgement? Only `accepted`/`duplicate` WITH the cloud's intent id."""
    return res is not None and res.status != "rejected" and bool(res.payment_intent_id)


def judge(items: Sequence[OutboxItem], response: BatchResponse) -> Verdicts:
    """Match results to the items sent, by local_id; only a received result moves an item.

    Should the answer hold several results for one item, an acknowledgement (with its intent id) wins: a
    rejection never overrides an ack, since the cloud then holds the sale (docs/sync-protocol.md)."""
    by_id: dict[str, ItemResult] = {}
    for r in response.results:
        if not _acks(by_id.get(r.local_id)):
            by_id[r.local_id] = r
    verdicts = Verdicts()
    acked = rejected = duplicates = 0
    for it in items:
        res = by_id.get(it.local_id)
        if res is None or (res.status != "rejected" and not _acks(res)):
            verdicts.missing.append(it.local_id)
        elif res.status == "rejected":
            rejected += 1
            verdicts.outcomes.append(ItemOutcome(it.local_id, "rejected", None, rejection_text(res.error)))
        else:
            acked += 1
            duplicates += res.status == "duplicate"
            verdicts.outcomes.append(ItemOutcome(it.local_id, "acked", res.payment_intent_id,
                                                 refund_id=res.refund_id))
    return Verdicts(verdicts.outcomes, verdicts.missing, SyncResult(len(items), acked, rejected, duplicates))
