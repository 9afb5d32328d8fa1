"""The refund rules (cloud/domain/refunds.py, cloud/domain/refund_intake.py) and the settlement figures
(cloud/domain/settlements.py), over plain values."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from cloud.domain.errors import Conflict, InvalidState, ValidationFailed
from cloud.domain.intake import BatchPlan, CheckedItem
from cloud.domain.intent import MethodType, PaymentIntent, ProcessingMode, Status
from cloud.domain.refund_intake import OfflineRefund, Paid, RefundBook
from cloud.domain.refunds import check_refundable
from cloud.domain.settlements import check_figures, digest_of
from cloud.domain.sync import ChainHead
from cloud.domain.tenants import Store

STORE = Store("str_1", "mer_1", "cp_1", "s001", "Shop", 0.0)
PAID = PaymentIntent("pi_1", "cp_1", "mer_1", "str_1", "s001", 1000, "JPY", (MethodType.CASH,), "r1", 0.0,
                     0.0, status=Status.SUCCEEDED, processing_mode=ProcessingMode.MANUAL)  # fmt: skip


def refund(local_id: str, amount: int, **kw: Any) -> OfflineRefund:
    """A refund item of the stored sale pi_1 unless told otherwise."""
    values: dict[str, Any] = {"local_id": local_id, "seq": 1, "created_at_ms": 1_700_000_000_000,
                              "amount": amount, "currency": "JPY", "reason": None, "merchant_refund_id": None,
                              "payment_local_id": None, "payment_intent_id": "pi_1"}  # fmt: skip
    return OfflineRefund(**{**values, **kw})


def plan_with(paid: Paid) -> BatchPlan:
    """A plan over one stored payment."""
    book = RefundBook(paid={paid.intent_id: paid})
    return BatchPlan(STORE, {}, {}, set(), ChainHead(0, "0" * 64), [f"ID{n:024d}" for n in range(40)],
                     "batch-1", "dev_1", book)  # fmt: skip


def codes(p: BatchPlan) -> list[str]:
    """The status, or the error code, of every result."""
    return [r.get("error", {}).get("code", r["status"]) for r in p.results]


STORED = Paid("pi_1", "mer_1", "str_1", Status.SUCCEEDED, 1000, 200, "JPY", ProcessingMode.MANUAL)


class TestCheckRefundable:
    def test_fits_exactly(self) -> None:
        """The whole remaining amount may be refunded; one unit more may not."""
        moved = dataclasses.replace(PAID, amount_refunded=400)
        check_refundable(moved, 600)
        with pytest.raises(Conflict) as err:
            check_refundable(moved, 601)
        assert err.value.code == "refund_exceeds_remaining"

    def test_only_succeeded(self) -> None:
        """An intent that is not succeeded is not refundable."""
        with pytest.raises(InvalidState) as err:
            check_refundable(dataclasses.replace(PAID, status=Status.REQUIRES_CAPTURE), 1)
        assert err.value.code == "payment_not_refundable"


class TestRefundItems:
    def test_batch_takes_from_what_is_left(self) -> None:
        """Refunds of one batch count against each other and against what was refunded before."""
        p = plan_with(STORED)
        for n, amount in enumerate((500, 300, 301, 300)):
            p.decide(CheckedItem(f"l{n}", None, True, None, "h" * 64, refund=refund(f"l{n}", amount)))
        assert codes(p) == ["accepted", "accepted", "refund_exceeds_remaining", "refund_exceeds_remaining"]
        assert [r.amount for r, _ in p.book.accepted] == [500, 300]
        assert p.results[0]["refund_id"].startswith("re_")

    @pytest.mark.parametrize(("paid", "item", "code"), [
        (STORED._replace(store_id="str_2"), refund("x", 1), "payment_not_found"),
        (STORED._replace(status=Status.FAILED), refund("x", 1), "payment_not_refundable"),
        (STORED._replace(mode=ProcessingMode.PGW_PROCESSED), refund("x", 1), "payment_not_refundable"),
        (STORED, refund("x", 1, currency="USD"), "currency_mismatch"),
        (STORED, refund("x", 1, reason="4111111111111111"), "card_number_refused"),
        (STORED, refund("x", 1, payment_intent_id="pi_2"), "payment_not_found"),
    ])  # fmt: skip
    def test_refusals(self, paid: Paid, item: OfflineRefund, code: str) -> None:
        """Each refusal answers its code and takes nothing."""
        p = plan_with(paid)
        p.decide(CheckedItem("x", None, True, None, "h" * 64, refund=item))
        assert codes(p) == [code] and p.book.accepted == [] and p.rejections[0].local_id == "x"


class TestSettlementFigures:
    def test_sums_must_add_up(self) -> None:
        """net_amount, cash_expected and the refunds by method are checked against each other."""
        block = {"transaction_count": 1, "total_amount": 100}
        report: dict[str, Any] = {
            "payment_method_breakdown": {"cash": {"transaction_count": 2, "total_amount": 500}},
            "total_amount": 900, "net_amount": 800, "cash_expected": 400,
            "refunds": {"total_amount": 100, "by_method": {"cash": block, "credit_card": {"total_amount": 0},
                                                           "qr": {"total_amount": 0}}}}  # fmt: skip
        check_figures(report)
        for key, wrong in (("net_amount", 801), ("cash_expected", 500)):
            with pytest.raises(ValidationFailed):
                check_figures({**report, key: wrong})
        with pytest.raises(ValidationFailed):
            refunds = {**report["refunds"], "total_amount": 101}
            check_figures({**report, "refunds": refunds, "net_amount": 799})

    def test_digest_ignores_key_order(self) -> None:
        """The same report with its keys in another order has the same digest."""
        assert digest_of({"a": 1, "b": [1, 2]}) == digest_of({"b": [1, 2], "a": 1})
