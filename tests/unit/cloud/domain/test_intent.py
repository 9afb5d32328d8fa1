"""The PaymentIntent state machine: every allowed edge, every refused one, modes and capture."""

from __future__ import annotations

import itertools

import pytest

from cloud.domain.errors import InvalidState, ValidationFailed
from cloud.domain.ids import PAYMENT_INTENT, is_valid_id, new_id
from cloud.domain.intent import (
    EDGES,
    TERMINAL,
    CaptureMethod,
    MethodType,
    PaymentIntent,
    ProcessingMode,
    Status,
    creation_transaction,
    resolve_method,
)

S = Status
ALLOWED = {
    (S.REQUIRES_PAYMENT_METHOD, S.REQUIRES_ACTION),
    (S.REQUIRES_PAYMENT_METHOD, S.PROCESSING),
    (S.REQUIRES_PAYMENT_METHOD, S.FAILED),
    (S.REQUIRES_PAYMENT_METHOD, S.CANCELLED),
    (S.REQUIRES_ACTION, S.PROCESSING),
    (S.REQUIRES_ACTION, S.FAILED),
    (S.REQUIRES_ACTION, S.CANCELLED),
    (S.PROCESSING, S.SUCCEEDED),
    (S.PROCESSING, S.FAILED),
    (S.PROCESSING, S.REQUIRES_CAPTURE),
    (S.REQUIRES_CAPTURE, S.SUCCEEDED),
}
ALL_PAIRS = list(itertools.product(Status, Status))


def intent(
    status: Status = S.REQUIRES_PAYMENT_METHOD, capture: CaptureMethod = CaptureMethod.AUTOMATIC
) -> PaymentIntent:
    """An intent in the given state."""
    return PaymentIntent(
        id=new_id(PAYMENT_INTENT),
        partner_id="cp_1",
        merchant_id="mer_1",
        store_id="str_1",
        store_code="s",
        amount=1000,
        currency="JPY",
        payment_method_types=(MethodType.QR_MPM,),
        merchant_ref_id="r",
        created_at=100.0,
        expires_at=1900.0,
        status=status,
        capture_method=capture,
    )


class TestEdges:
    def test_edge_table_is_design_section_5(self) -> None:
        """The edge table is exactly the written-down set (a change here must be deliberate)."""
        assert set(EDGES) == ALLOWED

    @pytest.mark.parametrize(("src", "dst"), sorted(ALLOWED))
    def test_allowed_edge_moves_and_records(self, src: Status, dst: Status) -> None:
        """An allowed edge returns the moved intent and a Transaction with time and actor."""
        moved, txn = intent(src).transition(dst, actor="partner:cp_1", now=200.0)
        assert (moved.status, moved.updated_at) == (dst, 200.0)
        assert (txn.from_status, txn.to_status, txn.actor, txn.created_at) == (
            src,
            dst,
            "partner:cp_1",
            200.0,
        )
        assert txn.id.startswith("txn_")

    @pytest.mark.parametrize(("src", "dst"), [p for p in ALL_PAIRS if p not in ALLOWED])
    def test_refused_edge_raises(self, src: Status, dst: Status) -> None:
        """Every other pair (including self-loops and leaving a terminal state) raises InvalidState."""
        with pytest.raises(InvalidState):
            intent(src).transition(dst, actor="a", now=1.0)

    def test_terminal_states_have_no_exit(self) -> None:
        """succeeded, failed and cancelled are terminal."""
        assert {S.SUCCEEDED, S.FAILED, S.CANCELLED} == TERMINAL
        assert not [e for e in EDGES if e[0] in TERMINAL]


class TestCaptureAndExpiry:
    def test_automatic_settle_succeeds(self) -> None:
        """processing settles to succeeded for automatic capture."""
        moved, _ = intent(S.PROCESSING).settle(actor="a", now=1.0)
        assert moved.status is S.SUCCEEDED

    def test_manual_settle_requires_capture(self) -> None:
        """processing settles to requires_capture for manual capture."""
        moved, _ = intent(S.PROCESSING, CaptureMethod.MANUAL).settle(actor="a", now=1.0)
        assert moved.status is S.REQUIRES_CAPTURE

    def test_only_untouched_intents_expire(self) -> None:
        """is_expired is true past expires_at in requires_payment_method only."""
        assert intent().is_expired(1900.0) and not intent().is_expired(1899.9)
        assert not intent(S.REQUIRES_ACTION).is_expired(5000.0)

    def test_creation_transaction(self) -> None:
        """Creation is recorded as a Transaction from nothing."""
        pi = intent()
        txn = creation_transaction(pi, "partner:cp_1")
        assert (txn.from_status, txn.to_status, txn.created_at) == (None, S.REQUIRES_PAYMENT_METHOD, 100.0)


class TestResolveMethod:
    def test_single_type_is_implied(self) -> None:
        """With one allowed type, none needs to be named."""
        assert resolve_method((MethodType.CASH,), None, None) is MethodType.CASH

    def test_several_types_need_a_choice(self) -> None:
        """With several, the confirm must choose."""
        with pytest.raises(ValidationFailed):
            resolve_method((MethodType.CASH, MethodType.CARD), None, None)

    def test_choice_must_be_allowed_and_fit_the_mode(self) -> None:
        """A choice outside the list, or outside the mode, is refused."""
        with pytest.raises(ValidationFailed):
            resolve_method((MethodType.CASH,), MethodType.CARD, None)
        with pytest.raises(ValidationFailed):
            resolve_method((MethodType.CASH, MethodType.CARD), MethodType.CASH, ProcessingMode.EXTERNAL)


class TestIds:
    def test_prefixed_ulids(self) -> None:
        """Ids are prefix + 26-char ULID and validate; others do not."""
        pi = new_id(PAYMENT_INTENT)
        assert pi.startswith("pi_") and len(pi) == 29 and is_valid_id(pi, "pi")
        assert (
            not is_valid_id(pi, "cp")
            and not is_valid_id("pi_" + "I" * 26, "pi")
            and not is_valid_id("pi", "pi")
        )
