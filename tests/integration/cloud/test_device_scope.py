"""A store-scoped (device) credential in the credentials table: own store only, suspension is 403.

Device enrollment will insert such rows; here one is inserted through the same credential_stmt.
"""

from __future__ import annotations

import sqlite3

import pytest

from cloud.domain import commands as c
from cloud.domain.tenants import Credential, CredentialKind
from cloud.infrastructure.sqlite.db import Stmt
from cloud.infrastructure.sqlite.tenants import credential_stmt
from cloud.service import tenants as t
from cloud.testing import PgwClient, Tenant
from sync.signing import secret_key_hash

from .conftest import Pgw
from .helpers import create

PATH = "/v1/payment_intents"
# Seeds its device row through the SQLite Database; tests/integration/cloud/devices/ covers devices on both.
pytestmark = pytest.mark.sqlite_only("seeds its device with SQLite statements")


@pytest.fixture
async def device(pgw: Pgw, tenant: Tenant) -> PgwClient:
    """A device key bound to the tenant's store_001."""
    cred = Credential(
        "pk_dev_0001",
        secret_key_hash("sk_dev_secret_0001"),
        CredentialKind.DEVICE,
        tenant.partner_id,
        tenant.merchant_id,
        tenant.store_id,
        "dev_01",
    )
    await pgw.deps.db.write([credential_stmt(cred, pgw.clock())])  # type: ignore[attr-defined]
    return PgwClient(pgw.session, pgw.url, "pk_dev_0001", "sk_dev_secret_0001", pgw.clock)


@pytest.fixture
async def other_store_intent(pgw: Pgw, tenant: Tenant, client: PgwClient) -> dict[str, object]:
    """An intent of the same merchant's store_002."""
    await t.create_store(
        c.CreateStore(tenant.merchant_id, "store_002"), tenants=pgw.deps.tenants, clock=pgw.deps.clock
    )
    return await create(client, merchant_store_id="store_002")


class TestDeviceCredential:
    async def test_creates_in_its_own_store_without_naming_it(self, pgw: Pgw, device: PgwClient) -> None:
        """A device key implies its store; the Transaction names the device."""
        pi = await create(device)
        assert pi["merchant_store_id"] == "store_001"
        with sqlite3.connect(pgw.db_path) as conn:
            actor = conn.execute("SELECT actor FROM transactions WHERE intent_id=?", (pi["id"],)).fetchone()
        assert actor == ("device:dev_01",)

    async def test_cannot_create_in_another_store(
        self, pgw: Pgw, device: PgwClient, other_store_intent: dict[str, object]
    ) -> None:
        """Naming another store's code is 403."""
        resp = await device.post(
            PATH,
            {
                "amount": 1,
                "currency": "JPY",
                "payment_method_types": ["cash"],
                "merchant_ref_id": "dev-x",
                "merchant_store_id": "store_002",
            },
        )
        assert (resp.status, resp.body["error"]["type"]) == (403, "permission_error")

    async def test_sees_only_its_store(
        self, pgw: Pgw, device: PgwClient, client: PgwClient, other_store_intent: dict[str, object]
    ) -> None:
        """Another store's intent is 404 to the device and absent from its list."""
        own = await create(device)
        assert (await device.get(f"{PATH}/{other_store_intent['id']}")).status == 404
        assert (await device.post(f"{PATH}/{other_store_intent['id']}/cancel", {})).status == 404
        assert [i["id"] for i in (await device.get(PATH)).body["data"]] == [own["id"]]
        assert len((await client.get(PATH)).body["data"]) == 2  # the partner sees both stores

    async def test_suspension_in_this_process_applies_to_the_next_request(
        self, pgw: Pgw, device: PgwClient
    ) -> None:
        """The key is cached after a request; a suspension written through this process's database (as
        `suspend_device` does) refuses the very next request, with no cache delay."""
        assert (await device.get(PATH)).status == 200
        await pgw.deps.db.write(  # type: ignore[attr-defined]
            [Stmt("UPDATE credentials SET active=0 WHERE device_id=? AND kind='device'", ("dev_01",))]
        )
        resp = await device.get(PATH)
        assert (resp.status, resp.body["error"]["code"]) == (403, "credential_suspended")

    async def test_suspended_device_is_403(self, pgw: Pgw, device: PgwClient) -> None:
        """After suspension (active=0) the key is refused with 403."""
        with sqlite3.connect(pgw.db_path) as conn:
            conn.execute("UPDATE credentials SET active=0 WHERE device_id='dev_01'")
        resp = await device.get(PATH)
        assert (resp.status, resp.body["error"]["code"]) == (403, "credential_suspended")
