"""The per-item decisions of the batch intake (cloud/domain/intake.py), over plain values."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cloud.domain.intake import (
    MAX_INT,
    BatchPlan,
    CheckedItem,
    chain_fields,
    item_error,
    raw_ref,
    refusal,
)
from cloud.domain.sync import ChainHead, DeviceSyncState, OfflineSale
from cloud.domain.tenants import Store

STORE = Store("str_1", "mer_1", "cp_1", "s001", "Shop", 0.0)
PAN = "4111111111111111"
H1, H2 = "1" * 64, "2" * 64


def sale(local_id: str = "l1", seq: int = 1, ref: str = "r1", **kw: Any) -> OfflineSale:
    """A finished cash sale."""
    values: dict[str, Any] = {"local_id": local_id, "seq": seq, "created_at_ms": 1_700_000_000_000,
                              "amount": 100, "currency": "JPY", "processing_mode": "manual",
                              "payment_method_type": "cash", "merchant_ref_id": ref, "status": "succeeded",
                              "result": {}, "metadata": {}}  # fmt: skip
    return OfflineSale(**{**values, **kw})


def checked(s: OfflineSale, prev: str = "0" * 64, digest: str = H1, hash_ok: bool = True) -> CheckedItem:
    """The facts of a valid item."""
    return CheckedItem(s.local_id, (s.seq, prev, digest), hash_ok, s, digest)


def plan(**kw: Any) -> BatchPlan:
    """A plan over nothing stored, with enough ids."""
    values: dict[str, Any] = {"store": STORE, "accepted_known": {}, "rejected_known": {}, "refs_used": set(),
                              "head": ChainHead(0, "0" * 64), "ids": [f"ID{n:024d}" for n in range(40)]}
    return BatchPlan(**{**values, **kw})


class TestBatchPlan:
    def test_new_valid_item_is_accepted_with_fresh_ids(self) -> None:
        """A valid sale becomes an accepted intent, its ref is taken, the head moves."""
        p = plan()
        p.decide(checked(sale()))
        pi = "pi_ID" + "0" * 24
        assert p.results == [{"local_id": "l1", "status": "accepted", "payment_intent_id": pi}]
        assert p.refs_used == {"r1"} and p.head == ChainHead(1, H1) and not p.rejections

    def test_stored_item_is_a_duplicate_with_its_id(self) -> None:
        """An item already stored is answered duplicate with the stored pi_ id, nothing decided again."""
        p = plan(accepted_known={"l1": "pi_X"})
        assert p.answer_known("l1") and not p.answer_known("l2")
        assert p.results == [{"local_id": "l1", "status": "duplicate", "payment_intent_id": "pi_X"}]
        assert p.duplicates == 1

    def test_earlier_rejection_is_repeated_not_stored_again(self) -> None:
        """A stored rejection is the answer again; no new Rejection row."""
        error = item_error("invalid_currency", "unknown currency", "intent.currency")
        p = plan(rejected_known={"l1": json.dumps(error)})
        assert p.answer_known("l1")
        assert p.results == [{"local_id": "l1", "status": "rejected", "error": error}] and not p.rejections

    def test_same_item_twice_in_a_batch(self) -> None:
        """Once decided, the same local_id later in the batch is a duplicate."""
        p = plan()
        p.decide(checked(sale()))
        assert p.answer_known("l1") and p.results[1]["status"] == "duplicate"

    def test_ref_in_use_is_rejected_and_keeps_its_seq(self) -> None:
        """A merchant_ref_id used already (stored, or earlier in the batch) is rejected; the head moves."""
        p = plan(refs_used={"r1"})
        p.decide(checked(sale()))
        assert p.results[0]["error"]["code"] == "merchant_ref_id_in_use"
        assert p.rejections[0].seq == 1 and p.head == ChainHead(1, H1)

    def test_invalid_item_is_rejected_with_its_validation_error(self) -> None:
        """An item that failed validation is rejected with its error; without a local_id it is not stored."""
        error = {"type": "invalid_request_error", "code": "invalid_item", "message": "bad", "param": "seq"}
        p = plan()
        p.decide(CheckedItem("l1", None, False, None, error=error))
        p.decide(CheckedItem("", None, False, None, error=error))
        assert [r["error"] for r in p.results] == [error, error]
        assert [r.local_id for r in p.rejections] == ["l1"] and p.head == ChainHead(0, "0" * 64)

    def test_past_max_int_is_rejected_without_seq(self) -> None:
        """created_at past 2**53 is refused; its seq is not stored."""
        p = plan()
        p.decide(checked(sale(created_at_ms=MAX_INT + 1)))
        assert p.results[0]["error"]["code"] == "invalid_item" and p.rejections[0].seq is None

    def test_domain_refusal_keeps_its_type(self) -> None:
        """A store_mismatch from the domain is a permission_error per item."""
        p = plan()
        p.decide(checked(sale(metadata={"store_id": "str_other"})))
        assert p.results[0]["error"]["type"] == "permission_error"
        assert p.results[0]["error"]["code"] == "store_mismatch"

    @pytest.mark.parametrize(("field", "value", "param"), [
        ("result", {"approval_code": PAN}, "intent.result.approval_code"),
        ("result", {"decline_reason": f"card {PAN} refused"}, "intent.result.decline_reason"),
        ("metadata", {"note": "4111 1111 1111 1111"}, "intent.metadata.note"),
        ("metadata", {"deep": [{"x": int(PAN)}]}, "intent.metadata.deep[0].x"),
    ])  # fmt: skip
    def test_card_number_is_refused_naming_the_field(self, field: str, value: Any, param: str) -> None:
        """A PAN anywhere in result or metadata: rejected card_number_refused naming the field, no echo."""
        p = plan()
        p.decide(checked(sale(**{field: value})))
        error = p.results[0]["error"]
        assert (error["code"], error["param"]) == ("card_number_refused", param)
        assert PAN not in json.dumps(p.results) and not p.accepted

    def test_card_number_as_a_key_is_masked_in_the_param(self) -> None:
        """A PAN used as a metadata key is named by its last four digits only."""
        p = plan()
        p.decide(checked(sale(metadata={PAN: "x"})))
        assert p.results[0]["error"]["param"] == "intent.metadata.************1111"

    def test_state_after_counts_anomalies_and_accepted(self) -> None:
        """The next state: head, chain_broken on a bad hash, gaps counted, accepted total, clock offset."""
        p = plan()
        p.decide(checked(sale(), hash_ok=False))
        p.decide(checked(sale("l3", seq=3, ref="r3"), prev=H1, digest=H2))
        old = DeviceSyncState("dev_1", accepted_total=5, version=7)
        new = p.state_after(old, "b1", sent_at=1000, now=2.0)
        assert (new.last_seq, new.last_hash, new.chain_broken) == (3, H2, True)
        assert (new.seq_gaps, new.anomalies) == (1, 2)
        assert (new.accepted_total, new.clock_offset_ms, new.last_batch_id, new.version) == (7, 1000, "b1", 7)


class TestRawFacts:
    def test_chain_fields_of_raw_items(self) -> None:
        """Well-formed (seq, prev_hash, hash) only; bools, out-of-range seqs and short hashes are not."""
        assert chain_fields({"seq": 2, "prev_hash": "p", "hash": H1}) == (2, "p", H1)
        for bad in ({"seq": True, "prev_hash": "p", "hash": H1},
                    {"seq": MAX_INT + 1, "prev_hash": "p", "hash": H1},
                    {"seq": 1, "prev_hash": "p", "hash": "x"}, [1], None):  # fmt: skip
            assert chain_fields(bad) is None

    def test_raw_ref(self) -> None:
        """The claimed merchant_ref_id of a raw item, if it is a string."""
        assert raw_ref({"intent": {"merchant_ref_id": "r"}}) == "r"
        assert raw_ref({"intent": {"merchant_ref_id": 1}}) is None and raw_ref("x") is None

    def test_refusal_order(self) -> None:
        """Range first, then card numbers, then the ref: the first reason wins."""
        found = refusal(sale(created_at_ms=MAX_INT + 1, result={"approval_code": PAN}), {"r1"})
        assert found is not None and found[0]["code"] == "invalid_item"
        found = refusal(sale(result={"approval_code": PAN}), {"r1"})
        assert found is not None and found[0]["code"] == "card_number_refused"
        assert refusal(sale(), set()) is None
