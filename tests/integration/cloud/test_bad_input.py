"""Bad input gets the right status and a JSON error, never a 500, and the database is unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from cloud.testing import PgwClient, db_snapshot

from .conftest import Pgw
from .helpers import create, fixture, intent_body

PATH = "/v1/payment_intents"


def without(body: dict[str, Any], field: str) -> dict[str, Any]:
    """The body minus one field."""
    return {k: v for k, v in body.items() if k != field}


BASE = intent_body()
CREATE_CASES: list[tuple[str, Any, int, str, str | None]] = [
    ("amount zero", {**BASE, "amount": 0}, 422, "invalid_parameter", "amount"),
    ("amount negative", {**BASE, "amount": -100}, 422, "invalid_parameter", "amount"),
    ("amount float", {**BASE, "amount": 10.5}, 422, "invalid_parameter", "amount"),
    ("amount whole float", {**BASE, "amount": 1000.0}, 422, "invalid_parameter", "amount"),
    ("amount string", {**BASE, "amount": "1000"}, 422, "invalid_parameter", "amount"),
    ("amount bool", {**BASE, "amount": True}, 422, "invalid_parameter", "amount"),
    ("amount null", {**BASE, "amount": None}, 422, "invalid_parameter", "amount"),
    ("amount huge", {**BASE, "amount": 10**13}, 422, "invalid_parameter", "amount"),
    ("amount missing", without(BASE, "amount"), 422, "parameter_missing", "amount"),
    ("currency unknown", {**BASE, "currency": "XXY"}, 422, "invalid_parameter", "currency"),
    ("currency lower", {**BASE, "currency": "jpy"}, 422, "invalid_parameter", "currency"),
    ("currency number", {**BASE, "currency": 392}, 422, "invalid_parameter", "currency"),
    ("unknown field", {**BASE, "amout": 5}, 422, "unknown_parameter", "amout"),
    (
        "method unknown",
        {**BASE, "payment_method_types": ["bitcoin"]},
        422,
        "invalid_parameter",
        "payment_method_types.0",
    ),
    ("methods empty", {**BASE, "payment_method_types": []}, 422, "invalid_parameter", "payment_method_types"),
    ("both shapes", {**BASE, "payment_method_type": "qr_mpm"}, 422, "invalid_parameter", None),
    ("no method", without(BASE, "payment_method_types"), 422, "invalid_parameter", None),
    (
        "mode mismatch",
        {
            **without(BASE, "payment_method_types"),
            "payment_method_type": "cash",
            "processing_mode": "pgw_processed",
        },
        422,
        "validation_error",
        "processing_mode",
    ),
    ("ref missing", without(BASE, "merchant_ref_id"), 422, "parameter_missing", "merchant_ref_id"),
    ("ref empty", {**BASE, "merchant_ref_id": ""}, 422, "invalid_parameter", "merchant_ref_id"),
    ("ref control char", {**BASE, "merchant_ref_id": "a\nb"}, 422, "invalid_parameter", "merchant_ref_id"),
    ("metadata nested", {**BASE, "metadata": {"a": {"b": 1}}}, 422, "invalid_parameter", "metadata.a"),
    ("expiry zero", {**BASE, "expires_in_minutes": 0}, 422, "invalid_parameter", "expires_in_minutes"),
    ("unknown store", {**BASE, "merchant_store_id": "nope"}, 404, "resource_missing", "merchant_store_id"),
    ("array body", [BASE], 422, "invalid_parameter", None),
    ("string body", "hello", 422, "invalid_parameter", None),
]


class TestCreateBadInput:
    @pytest.mark.parametrize(
        ("name", "body", "status", "code", "param"), CREATE_CASES, ids=[c[0] for c in CREATE_CASES]
    )
    async def test_refused_and_nothing_changes(  # noqa: PLR0917 — pytest passes parameters positionally
        self, pgw: Pgw, client: PgwClient, name: str, body: Any, status: int, code: str, param: str | None
    ) -> None:
        """The refused create gets its status, code and param; every table is byte-for-byte unchanged."""
        before = db_snapshot(pgw.db_path)
        resp = await client.post(PATH, body)
        assert resp.status == status, resp.body
        assert resp.body["error"]["code"] == code
        if param is not None:
            assert resp.body["error"]["param"] == param
        assert set(resp.body["error"]) == {"type", "code", "message", "param"}
        assert db_snapshot(pgw.db_path) == before

    @pytest.mark.parametrize("raw", [b"{", b"not json", b'{"amount": 1000,}', b"\xff\xfe", b'{"a":1}{"b":2}'])
    async def test_malformed_json_is_400(self, pgw: Pgw, client: PgwClient, raw: bytes) -> None:
        """Bodies that are not JSON are 400 invalid_json."""
        before = db_snapshot(pgw.db_path)
        resp = await client.post(PATH, raw=raw)
        assert (resp.status, resp.body["error"]["code"]) == (400, "invalid_json")
        assert db_snapshot(pgw.db_path) == before

    @pytest.mark.parametrize("raw", [b"[" * 30000 + b"]" * 30000, b'{"a":' * 6000 + b"1" + b"}" * 6000])
    async def test_deeply_nested_json_is_400_with_and_without_hmac(
        self, pgw: Pgw, client: PgwClient, raw: bytes
    ) -> None:
        """Nesting deep enough to exhaust a recursive parser is still a 400, for HMAC and token routes."""
        pi = await create(client)
        before = db_snapshot(pgw.db_path)
        signed = await client.post(PATH, raw=raw)
        unsigned = await client.post(f"{PATH}/{pi['id']}/confirm", raw=raw, signed=False)
        assert (signed.status, unsigned.status) == (400, 400)
        assert unsigned.body["error"]["code"] == "invalid_json"
        assert db_snapshot(pgw.db_path) == before

    async def test_oversized_body_is_413(self, pgw: Pgw, client: PgwClient) -> None:
        """A body over the 64 KiB intent limit is 413 before any parsing."""
        before = db_snapshot(pgw.db_path)
        body = {**intent_body(), "description": "x" * (70 * 1024)}
        resp = await client.post(PATH, body)
        assert (resp.status, resp.body["error"]["code"]) == (413, "body_too_large")
        assert db_snapshot(pgw.db_path) == before

    async def test_body_over_app_limit_is_413(self, pgw: Pgw, client: PgwClient) -> None:
        """A body over the app-wide 1 MiB limit is 413 JSON too (even unauthenticated)."""
        resp = await client.post(PATH, raw=b"x" * (1024 * 1024 + 10), signed=False)
        assert resp.status == 413
        assert resp.body["error"]["code"] == "body_too_large"

    async def test_duplicate_merchant_ref_id_is_409(self, pgw: Pgw, client: PgwClient) -> None:
        """merchant_ref_id is unique per merchant: reuse is 409 and the first intent is untouched."""
        body = intent_body()
        assert (await client.post(PATH, body)).status == 201
        before = db_snapshot(pgw.db_path)
        resp = await client.post(PATH, {**body, "amount": 2000})
        assert (resp.status, resp.body["error"]["code"]) == (409, "duplicate_merchant_ref_id")
        assert db_snapshot(pgw.db_path) == before

    @pytest.mark.parametrize("name", ["create_api_reference.json", "create_prd.json"])
    async def test_both_documented_shapes_are_accepted(self, pgw: Pgw, client: PgwClient, name: str) -> None:
        """The API-reference example and the PRD example both create an intent."""
        resp = await client.post(PATH, fixture(name))
        assert resp.status == 201, resp.body
        assert resp.body["payment_method_types"] == ["qr_mpm"]
        assert resp.body["processing_mode"] == "pgw_processed"


CONFIRM_CASES: list[tuple[str, dict[str, Any], int]] = [
    ("cash string", {"cash_received": "1000"}, 422),
    ("cash negative", {"cash_received": -1}, 422),
    ("card bad status", {"card_result": {"status": "maybe"}}, 422),
    ("card full number", {"card_result": {"status": "approved", "card_last_4": "4242424242424242"}}, 422),
    ("unknown field", {"pin": "1234"}, 422),
    ("method unknown", {"payment_method_type": "iou"}, 422),
]


class TestOtherBadInput:
    @pytest.mark.parametrize(("name", "body", "status"), CONFIRM_CASES, ids=[c[0] for c in CONFIRM_CASES])
    async def test_bad_confirm_changes_nothing(
        self, pgw: Pgw, client: PgwClient, name: str, body: dict[str, Any], status: int
    ) -> None:
        """A malformed confirm is refused and the intent stays as it was."""
        pi = await create(client, "cash")
        before = db_snapshot(pgw.db_path)
        resp = await client.post(f"{PATH}/{pi['id']}/confirm", body)
        assert resp.status == status, resp.body
        assert db_snapshot(pgw.db_path) == before

    @pytest.mark.parametrize(
        "bad_id",
        [
            "nope",
            "pi_",
            "pi_123",
            "pi_01ARZ3NDEKTSV4RRFFQ69G5FAV",
            "cp_01ARZ3NDEKTSV4RRFFQ69G5FAV",
            "pi_01arz3ndektsv4rrffq69g5fav",
            "%00",
            "pi_" + "A" * 300,
        ],
    )
    async def test_bad_or_unknown_ids_are_404(self, pgw: Pgw, client: PgwClient, bad_id: str) -> None:
        """Malformed and unknown ids are 404 JSON for reads and writes."""
        before = db_snapshot(pgw.db_path)
        assert (await client.get(f"{PATH}/{bad_id}")).status == 404
        resp = await client.post(f"{PATH}/{bad_id}/cancel", {})
        assert (resp.status, resp.body["error"]["code"]) == (404, "resource_missing")
        assert db_snapshot(pgw.db_path) == before

    async def test_unknown_route_and_method_are_json(self, pgw: Pgw, client: PgwClient) -> None:
        """aiohttp's own 404 and 405 come back as docs/cloud-api.md JSON."""
        missing = await client.get("/v1/nothing_here")
        wrong = await client.request("DELETE", PATH)
        assert (missing.status, missing.body["error"]["code"]) == (404, "route_not_found")
        assert (wrong.status, wrong.body["error"]["code"]) == (405, "method_not_allowed")

    async def test_health_and_errors_never_leak_secrets(self, pgw: Pgw, client: PgwClient) -> None:
        """Error messages do not echo the presented signature or secret."""
        resp = await client.post(
            PATH, intent_body(), headers={"Authorization": "HMAC-SHA256 pk_x:1:" + "a" * 64}, signed=False
        )
        assert "a" * 64 not in str(resp.body)
        assert (await client.get("/health", signed=False)).body == {"status": "ok"}
