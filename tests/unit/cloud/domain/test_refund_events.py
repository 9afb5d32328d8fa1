"""Which webhook event a refund's state announces (cloud/domain/webhooks.py) and the event's body
(cloud/service/webhooks.py refund_event), over plain values (docs/cloud-api.md#webhooks)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from cloud.domain.refunds import Refund, RefundStatus, refund_object
from cloud.domain.webhooks import EventType, refund_event_type
from cloud.service.webhooks import refund_event

REFUND = Refund("re_1", "pi_1", "mer_1", 300, "JPY", RefundStatus.SUCCEEDED, "cp_1", 1_700_000_000.9,
                "customer_return", "R-1", provider_ref="pp-1", failure_code=None)  # fmt: skip


class TestRefundEventType:
    @pytest.mark.parametrize(
        ("status", "kind"),
        [(RefundStatus.SUCCEEDED, EventType.REFUND_SUCCEEDED), (RefundStatus.FAILED, EventType.REFUND_FAILED),
         (RefundStatus.PENDING, None)],
    )  # fmt: skip
    def test_final_states_only(self, status: RefundStatus, kind: EventType | None) -> None:
        """succeeded and failed announce their event; pending announces nothing until it ends."""
        assert refund_event_type(dataclasses.replace(REFUND, status=status)) is kind


class TestRefundEvent:
    def test_body_carries_the_refund_object(self) -> None:
        """The body is {id, type, created, data: {object}} with the refund as the API shows it (no provider
        reference or failure code), owned by the partner given, `created` the recording time."""
        failed = dataclasses.replace(REFUND, status=RefundStatus.FAILED, failure_code="INVALID_REFUND_AMOUNT")
        event = refund_event(failed, "cp_9", 1_700_000_100.5)
        assert event is not None
        body = json.loads(event.body)
        assert (event.type, event.partner_id, event.created_at) == ("refund.failed", "cp_9", 1_700_000_100.5)
        assert body == {"id": event.id, "type": "refund.failed", "created": 1_700_000_100,
                        "data": {"object": refund_object(failed)}}  # fmt: skip
        assert body["data"]["object"] == {
            "object": "refund", "id": "re_1", "payment_intent_id": "pi_1", "amount": 300, "currency": "JPY",
            "reason": "customer_return", "merchant_refund_id": "R-1", "status": "failed",
            "created": 1_700_000_000,
        }  # fmt: skip
        assert event.id.startswith("evt_")

    def test_pending_has_no_event(self) -> None:
        """A pending refund yields no event to stage."""
        assert refund_event(dataclasses.replace(REFUND, status=RefundStatus.PENDING), "cp_1", 0.0) is None
