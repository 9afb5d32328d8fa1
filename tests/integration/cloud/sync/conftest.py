"""Fixtures of the sync tests (the refund tests reuse them): an enrolled device of the tenant's store and a
client signing with its credential."""

from __future__ import annotations

import pytest

from cloud.testing import PgwClient, Tenant

from ..conftest import Pgw
from .helpers import DeviceKeys, device_client, enroll


@pytest.fixture
async def device(pgw: Pgw, tenant: Tenant) -> DeviceKeys:
    """An enrolled device of the tenant's store."""
    return await enroll(pgw, tenant)


@pytest.fixture
def dev(pgw: Pgw, device: DeviceKeys) -> PgwClient:
    """Signs with the device credential."""
    return device_client(pgw, device)
