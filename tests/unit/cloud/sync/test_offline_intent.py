"""offline_intent: a finished offline sale -> a PaymentIntent in its final state with its Transactions."""

from __future__ import annotations

from typing import Any

import pytest

from cloud.domain.errors import Forbidden, ValidationFailed
from cloud.domain.intent import Status
from cloud.domain.sync import OfflineSale, offline_intent
from cloud.domain.tenants import Store

STORE = Store("str_1", "mer_1", "cp_1", "s001", "Shop", 0.0)


def sale(**changes: Any) -> OfflineSale:
    """A succeeded cash sale of 1,000 JPY paid with 1,500."""
    base = OfflineSale("loc-1", 1, 1_700_000_000_000, 1000, "JPY", "manual", "cash", "ref-1", "succeeded",
                       {"cash_received": 1500}, {"lane": 2, "cashier": "A"})  # fmt: skip
    return base._replace(**changes)


def build(s: OfflineSale) -> Any:
    """offline_intent with fixed ids."""
    return offline_intent(s, STORE, intent_id="pi_X", device_id="dev_1")


class TestOfflineIntent:
    def test_cash_sale_succeeds_with_change(self) -> None:
        """Cash: rpm -> processing -> succeeded, change computed, sale time kept, device as actor."""
        intent, txns = build(sale())
        assert intent.status is Status.SUCCEEDED and intent.details == {"cash_received": 1500, "change": 500}
        assert intent.created_at == 1_700_000_000.0 and intent.merchant_terminal_id == "dev_1"
        assert [(t.from_status, t.to_status) for t in txns] == [
            (None, Status.REQUIRES_PAYMENT_METHOD), (Status.REQUIRES_PAYMENT_METHOD, Status.PROCESSING),
            (Status.PROCESSING, Status.SUCCEEDED)]  # fmt: skip
        assert {t.actor for t in txns} == {"device:dev_1"} and {t.intent_id for t in txns} == {"pi_X"}
        assert intent.metadata == {"lane": "2", "cashier": "A"}

    def test_card_result_is_whitelisted(self) -> None:
        """Only the documented card fields are kept: nothing like a full card number survives."""
        result = {"status": "approved", "card_last_4": "4242", "card_brand": "visa",
                  "pan": "4242424242424242"}
        intent, _ = build(sale(processing_mode="external", payment_method_type="card", result=result))
        assert intent.details == {"card": {"status": "approved", "card_last_4": "4242", "card_brand": "visa"}}

    def test_failed_and_cancelled(self) -> None:
        """failed carries a failure_code; cancelled goes straight from requires_payment_method."""
        failed, _ = build(sale(processing_mode="external", payment_method_type="card", status="failed",
                               result={}))  # fmt: skip
        cancelled, txns = build(sale(status="cancelled", result={}))
        assert (failed.status, failed.failure_code) == (Status.FAILED, "card_declined")
        assert cancelled.status is Status.CANCELLED and len(txns) == 2
        assert cancelled.cancellation_reason == "requested_by_customer"

    @pytest.mark.parametrize(("changes", "code"), [
        ({"currency": "XXQ"}, "invalid_currency"),
        ({"processing_mode": "pgw_processed", "payment_method_type": "qr_mpm"},
         "unsupported_processing_mode"),
        ({"processing_mode": "external"}, "processing_mode_mismatch"),
        ({"payment_method_type": "bitcoin"}, "invalid_payment_method"),
        ({"result": {"cash_received": 10}}, "insufficient_cash"),
        ({"processing_mode": "external", "payment_method_type": "card", "result": {"card_last_4": "42x"}},
         "validation_error"),
    ])  # fmt: skip
    def test_invalid_sales_are_refused(self, changes: dict[str, Any], code: str) -> None:
        """Each invalid sale raises ValidationFailed with a specific code."""
        with pytest.raises(ValidationFailed) as err:
            build(sale(**changes))
        assert err.value.code == code

    def test_other_store_is_forbidden(self) -> None:
        """A sale claiming another store's code is Forbidden; its own code or id is fine."""
        with pytest.raises(Forbidden):
            build(sale(metadata={"merchant_store_id": "s999"}))
        assert build(sale(metadata={"merchant_store_id": "s001", "store_id": "str_1"}))[0].amount == 1000
