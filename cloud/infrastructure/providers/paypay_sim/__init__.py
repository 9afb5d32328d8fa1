"""A PayPay-API simulator for tests and the demo (docs/providers.md#the-simulator)."""

from __future__ import annotations

from cloud.infrastructure.providers.paypay_sim.app import PayPaySimulator
from cloud.infrastructure.providers.paypay_sim.state import Fault, Merchant

__all__ = ["Fault", "Merchant", "PayPaySimulator"]
