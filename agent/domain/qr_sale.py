"""A QR sale as the agent mirrors it (pure): the cloud owns the intent, the agent keeps a local copy."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

TERMINAL = ("succeeded", "failed", "cancelled")


@dataclass(frozen=True, slots=True)
class QrSale:
    """One row of the QR mirror; amounts in minor units, times in Unix ms."""

    local_id: str
    merchant_ref_id: str
    created_at: int
    updated_at: int
    amount: int
    currency: str
    cloud_intent_id: str
    status: str
    qr_content: str | None
    metadata_json: str
    payment_method: str  # "qr_mpm" | "qr_cpm"
    failure_code: str | None
    receipt_json: str | None
    provider: str | None = None  # the cloud intent's provider (migration 0600), for the settlement

    @property
    def final(self) -> bool:
        """Succeeded, failed or cancelled: nothing moves it any more."""
        return self.status in TERMINAL


def qr_to_json(sale: QrSale, *, awaiting_scan: bool = False) -> dict[str, Any]:
    """A QR sale as the local API shows it."""
    body = {
        "object": "qr_sale", "local_id": sale.local_id, "payment_method": sale.payment_method,
        "processing_mode": "pgw_processed", "payment_method_type": sale.payment_method,
        "created_at": sale.created_at, "updated_at": sale.updated_at, "amount": sale.amount,
        "currency": sale.currency, "merchant_ref_id": sale.merchant_ref_id, "status": sale.status,
        "cloud_intent_id": sale.cloud_intent_id, "qr_content": sale.qr_content,
        "failure_code": sale.failure_code, "metadata": json.loads(sale.metadata_json),
    }
    if sale.payment_method == "qr_cpm":
        body["awaiting_scan"] = awaiting_scan
    return body
