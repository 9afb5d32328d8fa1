"""POST /v1/devices/{id}/rotate-secret (docs/cloud-api.md#rotating-a-device-secret) on SQLite and PostgreSQL:
signed by the device, idempotent under retry with the old secret until the new one is used."""

from __future__ import annotations

import pytest

from cloud.api.app import sweep_once
from cloud.api.keys import SETTINGS
from cloud.service.devices import DEVICE_OLD_SECRET_SECONDS
from cloud.testing import PgwClient, Tenant, db_bytes

from ..conftest import Pgw
from ..helpers import rows
from ..sync.helpers import DeviceKeys, device_client, enroll


def rotate_path(keys: DeviceKeys) -> str:
    """The rotation route of this device."""
    return f"/v1/devices/{keys.device_id}/rotate-secret"


def with_secret(pgw: Pgw, keys: DeviceKeys, secret: str) -> PgwClient:
    """A client of the device signing with the given secret."""
    return PgwClient(pgw.session, pgw.url, keys.api_key, secret, pgw.clock)


class TestRotateDeviceSecret:
    async def test_new_secret_once_and_both_work_during_overlap(self, pgw: Pgw, tenant: Tenant) -> None:
        """The answer carries a new secret; old and new both authenticate until the old one's 7 days end."""
        keys = await enroll(pgw, tenant)
        old = device_client(pgw, keys)
        resp = await old.post(rotate_path(keys))
        assert resp.status == 200, resp.body
        assert resp.headers["Cache-Control"] == "no-store"
        assert set(resp.body) == {"device_id", "api_key", "secret_key", "previous_expires_at"}
        assert resp.body["previous_expires_at"] == int(pgw.clock() + DEVICE_OLD_SECRET_SECONDS)
        new = with_secret(pgw, keys, resp.body["secret_key"])
        show = f"/v1/devices/{keys.device_id}"
        assert (await new.get(show)).status == 200 and (await old.get(show)).status == 200
        pgw.clock.advance(DEVICE_OLD_SECRET_SECONDS + 1)
        assert (await old.get(show)).status == 401
        assert (await new.get(show)).status == 200

    async def test_a_retry_with_the_old_secret_gets_the_same_new_one(self, pgw: Pgw, tenant: Tenant) -> None:
        """A lost answer is harmless: signing the retry with the old secret answers the very same new secret,
        until the new one has been used; then the old one may not rotate again (409)."""
        keys = await enroll(pgw, tenant)
        old = device_client(pgw, keys)
        first = await old.post(rotate_path(keys))
        pgw.clock.advance(1)  # a fresh signature, as a real retry has
        again = await old.post(rotate_path(keys))
        assert again.status == 200 and again.body == first.body
        new = with_secret(pgw, keys, first.body["secret_key"])
        assert (await new.get(f"/v1/devices/{keys.device_id}")).status == 200  # confirms the new secret
        pgw.clock.advance(1)
        late = await old.post(rotate_path(keys))
        assert (late.status, late.body["error"]["code"]) == (409, "secret_already_rotated")

    async def test_signing_with_the_new_secret_rotates_again(self, pgw: Pgw, tenant: Tenant) -> None:
        """A rotation signed with the current secret makes a third one; the first stops working."""
        keys = await enroll(pgw, tenant)
        first = device_client(pgw, keys)
        second = with_secret(pgw, keys, (await first.post(rotate_path(keys))).body["secret_key"])
        third_resp = await second.post(rotate_path(keys))
        assert third_resp.status == 200
        third = with_secret(pgw, keys, third_resp.body["secret_key"])
        show = f"/v1/devices/{keys.device_id}"
        assert [(await c.get(show)).status for c in (first, second, third)] == [401, 200, 200]

    async def test_the_sweep_forgets_an_expired_unconfirmed_rotation(self, pgw: Pgw, tenant: Tenant) -> None:
        """Past the old secret's expiry the sweep drops its hash and the sealed new secret nobody fetched."""
        keys = await enroll(pgw, tenant)
        assert (await device_client(pgw, keys).post(rotate_path(keys))).status == 200
        sql = "SELECT previous_key_hash IS NULL, issued_secret_enc IS NULL FROM credentials WHERE api_key=?"
        await sweep_once(pgw.deps, pgw.app[SETTINGS])
        assert rows(pgw.db_path, sql, (keys.api_key,)) == [(False, False)]  # still in its 7 days
        pgw.clock.advance(DEVICE_OLD_SECRET_SECONDS + 1)
        await sweep_once(pgw.deps, pgw.app[SETTINGS])
        assert rows(pgw.db_path, sql, (keys.api_key,)) == [(True, True)]

    @pytest.mark.sqlite_only("reads the database file's bytes")
    async def test_the_new_secret_is_not_stored_in_the_clear(self, pgw: Pgw, tenant: Tenant) -> None:
        """Neither the new secret nor the old one appears in the database file, before or after first use."""
        keys = await enroll(pgw, tenant)
        resp = await device_client(pgw, keys).post(rotate_path(keys))
        secret = resp.body["secret_key"].encode()
        assert secret not in db_bytes(pgw.db_path) and keys.secret_key.encode() not in db_bytes(pgw.db_path)

    async def test_only_the_device_itself_may_rotate(
        self, pgw: Pgw, tenant: Tenant, client: PgwClient
    ) -> None:
        """A partner key or another device gets 404; an unsigned call 401; a body with fields 422."""
        keys, other = await enroll(pgw, tenant, "A"), await enroll(pgw, tenant, "B")
        assert (await client.post(rotate_path(keys))).status == 404
        assert (await device_client(pgw, other).post(rotate_path(keys))).status == 404
        assert (await device_client(pgw, keys).post(rotate_path(keys), signed=False)).status == 401
        bad = await device_client(pgw, keys).post(rotate_path(keys), {"secret_key": "mine"})
        assert bad.status in (400, 422)
        assert (await device_client(pgw, keys).get(f"/v1/devices/{keys.device_id}")).status == 200
