"""PaymentIntent -> JSON (the shape of PaymentIntentOut)."""

from __future__ import annotations

from typing import Any

from cloud.domain.intent import PaymentIntent
from cloud.service.handlers import IssuedIntent


def intent_json(i: PaymentIntent) -> dict[str, Any]:
    """The public JSON of an intent (no payment_token)."""
    details = i.details
    return {
        "id": i.id,
        "object": "payment_intent",
        "status": i.status.value,
        "amount": i.amount,
        "amount_refunded": i.amount_refunded,
        "currency": i.currency,
        "payment_method_types": [t.value for t in i.payment_method_types],
        "payment_method_type": None if i.payment_method_type is None else i.payment_method_type.value,
        "processing_mode": None if i.processing_mode is None else i.processing_mode.value,
        "capture_method": i.capture_method.value,
        "merchant_ref_id": i.merchant_ref_id,
        "order_id": i.order_id,
        "merchant_id": i.merchant_id,
        "store_id": i.store_id,
        "merchant_store_id": i.store_code,
        "merchant_terminal_id": i.merchant_terminal_id,
        "description": i.description,
        "metadata": i.metadata,
        "qr_content": i.qr_content,
        "qr_code_url": i.qr_content,
        "provider": i.provider,
        "card": details.get("card"),
        "cash_received": details.get("cash_received"),
        "change": details.get("change"),
        "failure_code": i.failure_code,
        "cancellation_reason": i.cancellation_reason,
        "created_at": int(i.created_at),
        "updated_at": int(i.updated_at),
        "expires_at": int(i.expires_at),
    }


def issued_json(issued: IssuedIntent) -> dict[str, Any]:
    """The intent plus its freshly minted payment_token."""
    body = intent_json(issued.intent)
    body["payment_token"] = issued.payment_token
    body["payment_token_expires_at"] = int(issued.token_expires_at)
    return body
