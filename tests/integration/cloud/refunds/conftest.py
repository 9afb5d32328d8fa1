"""Fixtures of the refund and settlement tests: an enrolled device of the tenant's store and its client, and
(from the provider tests) the PayPay-API simulator with a gateway configured for it."""

from __future__ import annotations

import pytest

from cloud.testing import PgwClient, Tenant

from ..conftest import Pgw
from ..providers.conftest import gateway, paypay, receiver, webhook_url

__all__ = ["dev", "device", "gateway", "paypay", "receiver", "webhook_url"]  # the reused fixtures stay
from ..sync.helpers import DeviceKeys, device_client, enroll


@pytest.fixture
async def device(pgw: Pgw, tenant: Tenant) -> DeviceKeys:
    """An enrolled device of the tenant's store."""
    return await enroll(pgw, tenant)


@pytest.fixture
def dev(pgw: Pgw, device: DeviceKeys) -> PgwClient:
    """Signs with the device credential."""
    return device_client(pgw, device)
