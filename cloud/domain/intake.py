"""The per-item decisions of the sync batch intake (docs/sync-protocol.md), pure: accepted, duplicate or
rejected and why, the chain head and the device's next sync state. The service loads what is stored, checks
each raw item's shape and hash, hands the facts to a BatchPlan, and stores what the plan decided.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from cloud.domain.card_data import CARD_NUMBER_REFUSED, card_number_field
from cloud.domain.card_data import MESSAGE as CARD_MESSAGE
from cloud.domain.errors import DomainError, Forbidden
from cloud.domain.ids import PAYMENT_INTENT, TRANSACTION
from cloud.domain.intent import MODE_OF
from cloud.domain.refund_intake import OfflineRefund, Paid, RefundBook
from cloud.domain.refunds import REFUND, SyncOrigin
from cloud.domain.sync import (
    AcceptedSale,
    Anomaly,
    ChainHead,
    DeviceSyncState,
    OfflineSale,
    Rejection,
    chain_step,
    offline_record,
)
from cloud.domain.tenants import Store
from sync.pan import mask_pans

MAX_INT = 2**53  # integers past this (JSON's safe range) are refused before they reach SQLite's 64 bits
IDS_PER_ITEM = 4  # one intent + up to three Transactions
Result = dict[str, Any]
Error = dict[str, Any]
# The free-form parts of a synced sale: checked for card numbers (docs/architecture.md, "Card data").
FREE_FORM = ("result", "metadata")


class CheckedItem(NamedTuple):
    """What the service learned about one raw item that was not answered from what is stored."""

    local_id: str
    chain: tuple[int, str, str] | None  # (seq, prev_hash, hash) when the item carries them well-formed
    hash_ok: bool
    sale: OfflineSale | None  # None: the item failed validation, with `error`
    item_hash: str = ""
    error: Mapping[str, Any] | None = None
    refund: OfflineRefund | None = None  # a valid refund item (then `sale` is None and so is `error`)


def item_error(code: str, message: str, param: str | None, type_: str = "invalid_request_error") -> Error:
    """A per-item error in the docs/cloud-api.md shape, with anything that looks like a card number masked
    (a validation message or a field path may quote what the device sent)."""
    return {"type": type_, "code": code, "message": mask_pans(message),
            "param": None if param is None else mask_pans(param)}  # fmt: skip


def domain_error(err: DomainError) -> Error:
    """A domain refusal as a per-item error."""
    type_ = "permission_error" if isinstance(err, Forbidden) else "invalid_request_error"
    return item_error(err.code, err.message, err.param, type_)


def chain_fields(raw: Any) -> tuple[int, str, str] | None:
    """(seq, prev_hash, hash) when a (possibly invalid) raw item carries them well-formed."""
    if not isinstance(raw, Mapping):
        return None
    seq, prev, digest = raw.get("seq"), raw.get("prev_hash"), raw.get("hash")
    ok = isinstance(seq, int) and not isinstance(seq, bool) and 1 <= seq <= MAX_INT
    if not ok or not isinstance(prev, str) or not isinstance(digest, str) or len(digest) != 64:
        return None
    return int(seq), prev, digest  # type: ignore[arg-type]


def raw_ref(raw: Any) -> str | None:
    """The merchant_ref_id a raw item claims, if it has one (to look up which are in use)."""
    intent = raw.get("intent") if isinstance(raw, Mapping) else None
    ref = intent.get("merchant_ref_id") if isinstance(intent, Mapping) else None
    return ref if isinstance(ref, str) else None


def refusal(sale: OfflineSale, refs_used: set[str]) -> tuple[Error, bool] | None:
    """Why a valid item may not become an intent before the state machine is asked: (error, keep its seq)."""
    if max(sale.seq, sale.created_at_ms) > MAX_INT:  # sync.models leaves these unbounded; SQLite is 64-bit
        return item_error("invalid_item", f"seq and created_at must be at most {MAX_INT}", "seq"), False
    found = card_number_field({f"intent.{name}": getattr(sale, name) for name in FREE_FORM})
    if found is not None:
        return item_error(CARD_NUMBER_REFUSED, CARD_MESSAGE, found), True
    if sale.merchant_ref_id in refs_used:
        return item_error("merchant_ref_id_in_use", "merchant_ref_id was already used by another sale",
                          "intent.merchant_ref_id"), True  # fmt: skip
    return None


@dataclass
class BatchPlan:
    """The walk of one batch against what is stored: a verdict per item, in request order."""

    store: Store
    accepted_known: dict[str, str]  # local_id -> payment_intent_id, already stored
    rejected_known: dict[str, str]  # local_id -> error JSON, already stored
    refs_used: set[str]
    head: ChainHead
    ids: list[str]  # fresh ULIDs, IDS_PER_ITEM per item
    batch_id: str = ""  # where accepted refunds came from (their SyncOrigin)
    device_id: str = ""
    book: RefundBook = field(default_factory=RefundBook)  # refund items (cloud/domain/refund_intake.py)
    next_id: int = 0
    results: list[Result] = field(default_factory=list)
    accepted: list[AcceptedSale] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)
    duplicates: int = 0

    def answer_known(self, local_id: str) -> bool:
        """Answer an item already decided (stored, or earlier in this batch); False if it is new."""
        if local_id in self.accepted_known:
            self.duplicates += 1
            self.results.append({"local_id": local_id, "status": "duplicate",
                                 "payment_intent_id": self.accepted_known[local_id]})  # fmt: skip
            return True
        if local_id in self.book.known:
            self.duplicates += 1
            refund_id, intent_id = self.book.known[local_id]
            self.results.append({"local_id": local_id, "status": "duplicate", "refund_id": refund_id,
                                 "payment_intent_id": intent_id})  # fmt: skip
            return True
        if local_id in self.rejected_known:  # the same answer again, not stored twice
            self.results.append({"local_id": local_id, "status": "rejected",
                                 "error": json.loads(self.rejected_known[local_id])})  # fmt: skip
            return True
        return False

    def decide(self, item: CheckedItem) -> None:
        """A new item: its chain step (the chain is evidence, never a gate), then accepted or rejected."""
        seq = None
        if item.chain is not None:
            seq, prev_hash, digest = item.chain
            self.head, found = chain_step(self.head, local_id=item.local_id, seq=seq, prev_hash=prev_hash,
                                          item_hash=digest, hash_ok=item.hash_ok)  # fmt: skip
            self.anomalies.extend(found)
        if item.refund is not None:
            self._refund(item.refund, item.item_hash)
            return
        sale = item.sale
        if sale is None:
            e = item.error or {}
            error = item_error(e.get("code", "invalid_item"), e.get("message", ""), e.get("param"),
                               e.get("type", "invalid_request_error"))  # fmt: skip
            self._reject(item.local_id, seq, error)
            return
        refused = refusal(sale, self.refs_used)
        if refused is not None:
            self._reject(item.local_id, seq if refused[1] else None, refused[0])
            return
        self._accept(sale, item)

    def _accept(self, sale: OfflineSale, item: CheckedItem) -> None:
        at, ids = self.next_id, self.ids
        pi, txn = f"{PAYMENT_INTENT}_", f"{TRANSACTION}_"
        try:
            record = offline_record(sale, self.store, intent_id=pi + ids[at],
                                    txn_ids=(txn + ids[at + 1], txn + ids[at + 2], txn + ids[at + 3]))
        except DomainError as err:
            self._reject(item.local_id, sale.seq, domain_error(err))
            return
        self.next_id = at + IDS_PER_ITEM
        self.refs_used.add(sale.merchant_ref_id)
        self.accepted_known[item.local_id] = record.intent_id
        self.accepted.append(AcceptedSale(sale, record, item.item_hash))
        self.book.paid[record.intent_id] = Paid(record.intent_id, self.store.merchant_id, self.store.id,
                                                record.status, sale.amount, 0, sale.currency,
                                                MODE_OF[record.method])  # fmt: skip
        self.results.append({"local_id": item.local_id, "status": "accepted",
                             "payment_intent_id": record.intent_id})  # fmt: skip

    def _refund(self, r: OfflineRefund, digest: str) -> None:
        """A refund item: of a sale accepted before (stored, or earlier in this batch) or of an intent."""
        if max(r.seq, r.created_at_ms) > MAX_INT:
            self._reject(r.local_id, None, item_error("invalid_item", f"seq and created_at must be at most "
                                                      f"{MAX_INT}", "seq"))  # fmt: skip
            return
        intent_id = r.payment_intent_id or self.accepted_known.get(r.payment_local_id or "")
        refused = self.book.refusal(r, intent_id, self.store.id)
        if refused is not None:
            self._reject(r.local_id, r.seq, item_error(refused["code"], refused["message"], refused["param"]))
            return
        assert intent_id is not None  # refusal() answers payment_not_found for an unknown one
        at, ids = self.next_id, self.ids
        self.next_id = at + IDS_PER_ITEM
        origin = SyncOrigin(self.device_id, r.local_id, r.seq, digest, self.batch_id)
        ids_of = (f"{REFUND}_{ids[at]}", f"{TRANSACTION}_{ids[at + 1]}")
        refund = self.book.accept(r, intent_id, origin, ids_of)
        self.results.append({"local_id": r.local_id, "status": "accepted", "refund_id": refund.id,
                             "payment_intent_id": intent_id})  # fmt: skip

    def _reject(self, local_id: str, seq: int | None, error: Error) -> None:
        if local_id:  # an item without a usable local_id is answered, never stored
            self.rejections.append(Rejection(local_id, seq, error))
            self.rejected_known[local_id] = json.dumps(error)
        self.results.append({"local_id": local_id, "status": "rejected", "error": error})

    def state_after(self, old: DeviceSyncState, batch_id: str, sent_at: int, now: float) -> DeviceSyncState:
        """The device's sync state once this batch is stored (same version: the store bumps it)."""
        kinds = [a.kind for a in self.anomalies]
        broken = any(k in ("chain_broken", "bad_hash") for k in kinds)
        return DeviceSyncState(
            old.device_id, self.head.seq, self.head.hash, old.chain_broken or broken,
            old.seq_gaps + kinds.count("seq_gap"), old.anomalies + len(kinds), round(now * 1000) - sent_at,
            batch_id, now, old.accepted_total + len(self.accepted) + len(self.book.accepted), old.version,
        )  # fmt: skip
