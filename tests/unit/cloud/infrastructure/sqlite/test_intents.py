"""The bulk rows of add_many equal, column for column, what add/save write for the same offline sale."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.domain.errors import DomainError
from cloud.domain.sync import AcceptedSale, OfflineSale, offline_intent, offline_record
from cloud.domain.tenants import Store
from cloud.infrastructure.sqlite.intents import _row_values, _txn_stmt, intent_row, txn_rows

STORE = Store("str_1", "mer_1", "cp_1", "s001", "Shop", 0.0)
TXN_IDS = ["txn_a", "txn_b", "txn_c"]
_text = st.text(max_size=8)
_json = st.recursive(st.none() | st.booleans() | st.integers(-(2**40), 2**40) | _text,
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
                     max_leaves=6)  # fmt: skip
_results = st.fixed_dictionaries({}, optional={
    "cash_received": st.integers(0, 10**6), "failure_code": _text, "cancellation_reason": _text,
    "status": st.sampled_from(["approved", "declined"]), "card_brand": _text,
    "card_last_4": st.sampled_from(["1234", "0000"]), "approval_code": _text})  # fmt: skip
_sales = st.builds(
    OfflineSale, local_id=st.just("loc-1"), seq=st.integers(1, 10**6), created_at_ms=st.integers(0, 2**45),
    amount=st.integers(1, 10**7), currency=st.sampled_from(["JPY", "USD", "XXX"]),
    processing_mode=st.sampled_from(["manual", "external", "pgw_processed"]),
    payment_method_type=st.sampled_from(["cash", "card", "emoney", "qr_mpm"]), merchant_ref_id=_text,
    status=st.sampled_from(["succeeded", "failed", "cancelled"]), result=_results,
    metadata=st.dictionaries(_text, _json, max_size=3),
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(sale=_sales)
def test_direct_rows_equal_repository_rows(sale: OfflineSale) -> None:
    """For any sale the domain accepts: intent_row == _row_values(intent), txn_rows == the Transactions'
    rows; a sale the domain refuses is refused by both paths alike."""
    try:
        intent, txns = offline_intent(sale, STORE, intent_id="pi_X", device_id="dev_1", txn_ids=TXN_IDS)
    except DomainError as err:
        refused: Any = err
        try:
            offline_record(sale, STORE, intent_id="pi_X", txn_ids=TXN_IDS)
        except DomainError as again:
            assert (type(again), again.code, again.param) == (type(refused), refused.code, refused.param)
            return
        raise AssertionError("offline_record accepted a sale offline_intent refused") from None
    accepted = AcceptedSale(sale, offline_record(sale, STORE, intent_id="pi_X", txn_ids=TXN_IDS), "h")
    assert intent_row(accepted, STORE, "dev_1") == _row_values(intent)
    assert txn_rows(accepted, "device:dev_1") == [tuple(_txn_stmt(t).params) for t in txns]


def test_card_failure_row_carries_failure_code_and_two_edges() -> None:
    """A declined card sale: status failed, failure_code set, three Transaction rows ending in failed."""
    sale = OfflineSale("loc-2", 2, 1_700_000_000_123, 500, "JPY", "external", "card", "ref-9", "failed",
                       {"status": "declined", "card_last_4": "4242"}, {})  # fmt: skip
    accepted = AcceptedSale(sale, offline_record(sale, STORE, intent_id="pi_Y", txn_ids=TXN_IDS), "h")
    row = intent_row(accepted, STORE, "dev_9")
    assert (row[5], row[21], row[14], row[23]) == ("failed", "card_declined", "dev_9", 1_700_000_000_123)
    assert [(r[2], r[3]) for r in txn_rows(accepted, "device:dev_9")] == [
        (None, "requires_payment_method"),
        ("requires_payment_method", "processing"),
        ("processing", "failed"),
    ]
