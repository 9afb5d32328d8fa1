"""Device enrollment (docs/cloud-api.md) through the HTTP API on a real SQLite file."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from cloud.domain.devices import CODE_ALPHABET, CODE_LENGTH
from cloud.testing import SettableClock, Tenant, db_bytes, db_snapshot

from ..conftest import Pgw
from ..helpers import rows
from ..sync.helpers import activate, enroll, new_code


class TestActivate:
    async def test_code_buys_a_store_scoped_credential(self, pgw: Pgw, tenant: Tenant) -> None:
        """A fresh code answers 201 with a device key of the code's store; only the secret's hash is kept."""
        code = await new_code(pgw, tenant.store_id)
        assert len(code) == CODE_LENGTH and set(code) <= set(CODE_ALPHABET)
        resp = await activate(pgw, {"code": code, "serial_number": "SN-77", "model": "P2"})
        assert resp.status == 201, resp.body
        body = resp.body
        assert set(body) == {"device_id", "api_key", "secret_key", "merchant_id", "store_id"}
        assert (body["merchant_id"], body["store_id"]) == (tenant.merchant_id, tenant.store_id)
        stored = rows(pgw.db_path, "SELECT secret_key_hash, kind, store_id, device_id FROM credentials "
                                   "WHERE api_key=?", (body["api_key"],))  # fmt: skip
        assert stored == [(hashlib.sha256(body["secret_key"].encode()).hexdigest(), "device",
                           tenant.store_id, body["device_id"])]  # fmt: skip
        dumped = db_bytes(pgw.db_path)
        assert body["secret_key"].encode() not in dumped and code.encode() not in dumped
        device = rows(pgw.db_path, "SELECT serial_number, model, status FROM devices WHERE id=?",
                      (body["device_id"],))  # fmt: skip
        assert device == [("SN-77", "P2", "active")]

    async def test_code_is_case_and_dash_insensitive(self, pgw: Pgw, tenant: Tenant) -> None:
        """A code typed in lower case with dashes still redeems."""
        code = await new_code(pgw, tenant.store_id)
        typed = f"{code[:4]}-{code[4:8]}-{code[8:]}".lower()
        resp = await activate(pgw, {"code": typed, "serial_number": "SN", "model": "P2"})
        assert resp.status == 201, resp.body

    async def test_unknown_code_is_404(self, pgw: Pgw, tenant: Tenant) -> None:
        """A code nobody issued is 404 and creates nothing."""
        before = db_snapshot(pgw.db_path)
        resp = await activate(pgw, {"code": "ABCDEFGHJKMN", "serial_number": "SN", "model": "P2"})
        assert resp.status == 404 and resp.body["error"]["code"] == "activation_code_not_found"
        assert db_snapshot(pgw.db_path) == before

    async def test_used_code_is_409(self, pgw: Pgw, tenant: Tenant) -> None:
        """The second redemption of a code is 409; only one device exists."""
        code = await new_code(pgw, tenant.store_id)
        first = await activate(pgw, {"code": code, "serial_number": "A", "model": "P2"})
        second = await activate(pgw, {"code": code, "serial_number": "B", "model": "P2"})
        assert first.status == 201 and second.status == 409
        assert second.body["error"]["code"] == "activation_code_used"
        assert rows(pgw.db_path, "SELECT count(*) FROM devices") == [(1,)]

    async def test_expired_code_is_410(self, pgw: Pgw, tenant: Tenant, clock: SettableClock) -> None:
        """A code older than 24 h is 410 Gone."""
        code = await new_code(pgw, tenant.store_id)
        clock.advance(24 * 3600 + 1)
        resp = await activate(pgw, {"code": code, "serial_number": "SN", "model": "P2"})
        assert resp.status == 410 and resp.body["error"]["code"] == "activation_code_expired"

    @pytest.mark.parametrize(("body", "status"), [
        (b"{not json", 400),
        ({"code": "ABCDEFGHJKMN"}, 422),
        ({"code": "", "serial_number": "S", "model": "M"}, 422),
        ({"code": 123456789012, "serial_number": "S", "model": "M"}, 422),
        ({"code": "ABCDEFGHJKMN", "serial_number": "S", "model": "M", "admin": True}, 422),
    ])  # fmt: skip
    async def test_bad_bodies_are_400_or_422(self, pgw: Pgw, body: object, status: int) -> None:
        """Malformed JSON is 400, wrong or missing fields are 422, always as a JSON error."""
        resp = await activate(pgw, body)
        assert resp.status == status, resp.body
        assert set(resp.body["error"]) == {"type", "code", "message", "param"}

    async def test_concurrent_redemptions_make_one_device(self, pgw: Pgw, tenant: Tenant) -> None:
        """Ten simultaneous activations of one code: exactly one 201, the rest 409."""
        code = await new_code(pgw, tenant.store_id)
        got = await asyncio.gather(*(activate(pgw, {"code": code, "serial_number": f"S{i}", "model": "M"})
                                     for i in range(10)))  # fmt: skip
        assert sorted(r.status for r in got) == [201] + [409] * 9
        assert rows(pgw.db_path, "SELECT count(*) FROM devices") == [(1,)]
        assert rows(pgw.db_path, "SELECT count(*) FROM credentials WHERE kind='device'") == [(1,)]


class TestEnrollDefaults:
    async def test_enroll_helper_roundtrip(self, pgw: Pgw, tenant: Tenant) -> None:
        """Two enrollments in one store give two distinct devices and keys."""
        a, b = await enroll(pgw, tenant, "A"), await enroll(pgw, tenant, "B")
        assert a.device_id != b.device_id and a.api_key != b.api_key and a.secret_key != b.secret_key


class TestOpenApi:
    async def test_document_lists_device_and_sync_routes(self, pgw: Pgw) -> None:
        """GET /openapi.json describes activation and sync batches with schemas from the pydantic models."""
        async with pgw.session.get(pgw.url + "/openapi.json") as resp:
            doc = await resp.json()
        assert doc["paths"]["/v1/devices/activate"]["post"]["security"] == []
        assert "201" in doc["paths"]["/v1/devices/activate"]["post"]["responses"]
        assert doc["paths"]["/v1/sync/batches"]["post"]["security"] == [{"hmac": []}]
        schemas = doc["components"]["schemas"]
        assert {"SyncBatch", "SyncItem", "SyncRefundItem", "BatchResponse", "ActivateDeviceRequest"} <= set(
            schemas
        )
        items = schemas["SyncBatch"]["properties"]["items"]["items"]  # a sale or a refund
        assert [x["$ref"].rsplit("/", 1)[1] for x in items["oneOf"]] == ["SyncItem", "SyncRefundItem"]
