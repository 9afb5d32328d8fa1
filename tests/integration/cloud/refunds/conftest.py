"""Fixtures of the refund and settlement tests: an enrolled device of the tenant's store and its client (from
the sync tests), and (from the provider tests) the PayPay-API simulator with a gateway configured for it."""

from __future__ import annotations

from ..providers.conftest import gateway, paypay, receiver, webhook_url
from ..sync.conftest import dev, device

__all__ = ["dev", "device", "gateway", "paypay", "receiver", "webhook_url"]  # the reused fixtures stay
