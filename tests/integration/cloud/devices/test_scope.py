"""A device credential is an HMAC key scoped to its store (docs/cloud-api.md); suspension answers 403."""

from __future__ import annotations

import asyncio
import json
import sys

from cloud.api.devices import DeviceOut
from cloud.domain import commands as c
from cloud.domain.devices import SuspendDevice
from cloud.service import tenants as t
from cloud.service.devices import suspend_device
from cloud.testing import PgwClient, Tenant, seed_tenant

from ..conftest import Pgw
from ..helpers import create, intent_body, transitions
from ..sync.helpers import activate, device_client, enroll

PATH = "/v1/payment_intents"


class TestStoreScope:
    async def test_device_creates_confirms_and_lists_in_its_store(self, pgw: Pgw, tenant: Tenant) -> None:
        """A device creates (store implied), confirms and lists intents of its store, acting as itself."""
        keys = await enroll(pgw, tenant)
        dev = device_client(pgw, keys)
        made = await create(dev, "cash")
        assert made["store_id"] == tenant.store_id and made["merchant_store_id"] == tenant.store_code
        done = await dev.post(f"{PATH}/{made['id']}/confirm", {"cash_received": 2000})
        assert done.status == 200 and done.body["status"] == "succeeded", done.body
        listed = await dev.get(PATH)
        assert [i["id"] for i in listed.body["data"]] == [made["id"]]
        assert {actor for _, _, actor in transitions(pgw.db_path, made["id"])} == {f"device:{keys.device_id}"}

    async def test_device_cannot_see_another_stores_intent(self, pgw: Pgw, tenant: Tenant,
                                                           client: PgwClient) -> None:  # fmt: skip
        """Another store of the same merchant: its intents are 404 to the device and absent from its list."""
        keys = await enroll(pgw, tenant)
        dev = device_client(pgw, keys)
        other = await client.post(PATH, intent_body("cash", merchant_store_id="store_002"))
        assert other.status == 404  # the partner has no store_002 yet
        await t.create_store(c.CreateStore(tenant.merchant_id, "store_002"), tenants=pgw.deps.tenants,
                             clock=pgw.clock)  # fmt: skip
        theirs = await create(client, "cash", merchant_store_id="store_002")
        for resp in (await dev.get(f"{PATH}/{theirs['id']}"),
                     await dev.post(f"{PATH}/{theirs['id']}/cancel", {}),
                     await dev.post(f"{PATH}/{theirs['id']}/confirm", {"cash_received": 5000})):  # fmt: skip
            assert resp.status == 404, resp.body
        assert (await dev.get(PATH)).body["data"] == []
        mine = await dev.post(PATH, intent_body("cash", merchant_store_id="store_002"))
        assert mine.status == 403, mine.body

    async def test_partner_sees_device_intents(self, pgw: Pgw, tenant: Tenant, client: PgwClient) -> None:
        """The store's partner lists what its device created; another partner does not."""
        dev = device_client(pgw, await enroll(pgw, tenant))
        made = await create(dev, "cash")
        assert made["id"] in [i["id"] for i in (await client.get(PATH)).body["data"]]
        stranger = pgw.client(await seed_tenant(pgw.deps))
        assert (await stranger.get(f"{PATH}/{made['id']}")).status == 404


class TestSuspend:
    async def test_suspended_device_is_403(self, pgw: Pgw, tenant: Tenant) -> None:
        """After `admin device suspend` (a real subprocess on the same file) the device's key is 403."""
        keys = await enroll(pgw, tenant)
        dev = device_client(pgw, keys)
        assert (await dev.get(PATH)).status == 200
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cloud.cli", "admin", "device", "suspend", "--device", keys.device_id,
            "--db", pgw.cli_db, env=pgw.cli_env, stdout=asyncio.subprocess.PIPE)  # fmt: skip
        out, _ = await proc.communicate()
        assert proc.returncode == 0 and json.loads(out)["status"] == "suspended"
        # The server may cache credentials for a bounded time (cloud.infrastructure.sqlite.tenants CACHE_TTL)
        # when ANOTHER process wrote; wait for that bound at most, in steps.
        for _ in range(50):
            if (await dev.get(PATH)).status == 403:
                break
            await asyncio.sleep(0.1)
        for resp in (await dev.get(PATH), await dev.post(PATH, intent_body("cash"))):
            assert resp.status == 403 and resp.body["error"]["code"] == "credential_suspended"

    async def test_suspension_in_process_is_immediate(self, pgw: Pgw, tenant: Tenant) -> None:
        """Suspended through the server's own storage, the very next request is 403."""
        keys = await enroll(pgw, tenant)
        dev = device_client(pgw, keys)
        assert (await dev.get(PATH)).status == 200
        await suspend_device(SuspendDevice(keys.device_id), devices=pgw.deps.devices, clock=pgw.clock)
        resp = await dev.get(PATH)
        assert resp.status == 403 and resp.body["error"]["code"] == "credential_suspended"

    async def test_admin_activation_code_cli(self, pgw: Pgw, tenant: Tenant) -> None:
        """`admin activation-code --store` prints a 12-character code that the API then redeems."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cloud.cli", "admin", "activation-code", "--store", tenant.store_id,
            "--db", pgw.cli_db, env=pgw.cli_env, stdout=asyncio.subprocess.PIPE)  # fmt: skip
        out, _ = await proc.communicate()
        issued = json.loads(out)
        assert proc.returncode == 0 and len(issued["activation_code"]) == 12
        assert issued["store_id"] == tenant.store_id and issued["expires_at"] > pgw.clock()
        resp = await activate(pgw, {"code": issued["activation_code"], "serial_number": "S", "model": "M"})
        assert resp.status == 201, resp.body


class TestShowDevice:
    async def test_device_state_visible_to_itself_and_its_partner_only(
        self, pgw: Pgw, tenant: Tenant, client: PgwClient
    ) -> None:
        """GET /v1/devices/{id}: the device and its partner see its sync state; a sibling device and another
        partner get 404."""
        keys, sibling = await enroll(pgw, tenant, "A"), await enroll(pgw, tenant, "B")
        path = f"/v1/devices/{keys.device_id}"
        own = await device_client(pgw, keys).get(path)
        assert own.status == 200, own.body
        assert own.body["sync"]["last_seq"] == 0 and own.body["status"] == "active"
        DeviceOut.model_validate(own.body)  # the documented shape
        assert (await client.get(path)).body["device_id"] == keys.device_id
        assert (await device_client(pgw, sibling).get(path)).status == 404
        stranger = pgw.client(await seed_tenant(pgw.deps))
        assert (await stranger.get(path)).status == 404
