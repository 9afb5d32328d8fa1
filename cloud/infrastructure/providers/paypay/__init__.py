"""The PayPay-shaped QR provider (docs/providers.md): OPA-Auth signing, the wire shapes, the adapter."""

from __future__ import annotations

from cloud.infrastructure.providers.paypay.adapter import PayPayProvider
from cloud.infrastructure.providers.paypay.wire import NAME

__all__ = ["NAME", "PayPayProvider"]
