"""HMAC-SHA256 and payment_token authentication, and tenant isolation, through the HTTP API."""

from __future__ import annotations

import hashlib
import json

import pytest

from cloud.domain.ids import new_id
from cloud.testing import PgwClient, SettableClock, Tenant, db_bytes, db_snapshot

from .conftest import Pgw
from .helpers import create, execute, intent_body, rows

PATH = "/v1/payment_intents"


async def expect_401(resp_coro: object, code: str) -> None:
    """Await a response and check it is 401 with the given code."""
    resp = await resp_coro  # type: ignore[misc]
    assert resp.status == 401, resp.body
    assert resp.body["error"]["code"] == code
    assert resp.body["error"]["type"] == "authentication_error"


class TestHmac:
    async def test_missing_header_is_401(self, pgw: Pgw, client: PgwClient) -> None:
        """No Authorization header on an HMAC endpoint is 401 and creates nothing."""
        before = db_snapshot(pgw.db_path)
        await expect_401(client.post(PATH, intent_body(), signed=False), "invalid_authorization")
        assert db_snapshot(pgw.db_path) == before

    @pytest.mark.parametrize(
        "header",
        [
            "Bearer abc",
            "HMAC-SHA256 pk_test_abc123:123",
            "HMAC-SHA256 pk_test_abc123:notanumber:" + "0" * 64,
            "HMAC-SHA256 pk_test_abc123:1700000000:" + "Z" * 64,
            "HMAC-SHA256 pk_test_abc123:1700000000:" + "ab" * 31,
            "hmac-sha256 pk_test_abc123:1700000000:" + "0" * 64,
        ],
    )
    async def test_malformed_header_is_401(self, pgw: Pgw, client: PgwClient, header: str) -> None:
        """A header not shaped `HMAC-SHA256 key:ts:hex64` is 401 invalid_authorization."""
        await expect_401(
            client.post(PATH, intent_body(), signed=False, headers={"Authorization": header}),
            "invalid_authorization",
        )

    async def test_unknown_api_key_is_401(self, pgw: Pgw, client: PgwClient, clock: SettableClock) -> None:
        """An api_key nobody holds is 401, indistinguishable from a bad signature."""
        stranger = PgwClient(pgw.session, pgw.url, "pk_nobody_here", "sk_whatever", clock)
        await expect_401(stranger.post(PATH, intent_body()), "invalid_signature")

    async def test_wrong_secret_is_401(self, pgw: Pgw, tenant: Tenant, clock: SettableClock) -> None:
        """A signature made with another secret is 401."""
        forger = PgwClient(pgw.session, pgw.url, tenant.api_key, "sk_wrong_secret", clock)
        await expect_401(forger.post(PATH, intent_body()), "invalid_signature")

    async def test_tampered_body_is_401(self, pgw: Pgw, client: PgwClient) -> None:
        """Changing one byte of the signed body breaks the signature."""
        body = json.dumps(intent_body()).encode()
        header = client.sign("POST", PATH, body)
        tampered = body.replace(b"1000", b"9000")
        await expect_401(
            client.post(PATH, raw=tampered, signed=False, headers={"Authorization": header}),
            "invalid_signature",
        )

    async def test_signature_is_bound_to_method_and_path(self, pgw: Pgw, client: PgwClient) -> None:
        """A signature for GET /v1/payment_intents does not authorise another path."""
        header = client.sign("GET", PATH, b"")
        await expect_401(
            client.get(
                f"{PATH}/pi_01ARZ3NDEKTSV4RRFFQ69G5FAV", signed=False, headers={"Authorization": header}
            ),
            "invalid_signature",
        )

    @pytest.mark.parametrize("skew", [-301, 301, -10_000])
    async def test_timestamp_outside_window_is_401(self, pgw: Pgw, client: PgwClient, skew: int) -> None:
        """|now - timestamp| > 300 s is refused even with a valid signature."""
        ts = int(pgw.clock()) + skew
        await expect_401(client.post(PATH, intent_body(), timestamp=ts), "timestamp_out_of_window")

    @pytest.mark.parametrize("skew", [-299, 299])
    async def test_timestamp_inside_window_is_accepted(self, pgw: Pgw, client: PgwClient, skew: int) -> None:
        """A timestamp within 300 s either way is accepted."""
        resp = await client.post(PATH, intent_body(), timestamp=int(pgw.clock()) + skew)
        assert resp.status == 201

    async def test_replayed_post_is_401(self, pgw: Pgw, client: PgwClient) -> None:
        """The exact same signed POST a second time is 401 replayed_request and creates nothing more."""
        body = json.dumps(intent_body()).encode()
        header = {"Authorization": client.sign("POST", PATH, body)}
        first = await client.post(PATH, raw=body, signed=False, headers=header)
        assert first.status == 201
        await expect_401(client.post(PATH, raw=body, signed=False, headers=header), "replayed_request")
        assert rows(pgw.db_path, "SELECT count(*) FROM payment_intents") == [(1,)]

    async def test_replay_with_idempotency_key_gets_stored_response(
        self, pgw: Pgw, client: PgwClient
    ) -> None:
        """A quick retry of the same signed POST with an Idempotency-Key is answered by idempotency."""
        body = json.dumps(intent_body()).encode()
        headers = {"Authorization": client.sign("POST", PATH, body), "Idempotency-Key": new_id("k")}
        first = await client.post(PATH, raw=body, signed=False, headers=headers)
        again = await client.post(PATH, raw=body, signed=False, headers=headers)
        assert (first.status, again.status) == (201, 201)
        assert first.body["id"] == again.body["id"]

    async def test_get_may_repeat(self, pgw: Pgw, client: PgwClient) -> None:
        """The same signed GET twice is fine."""
        header = {"Authorization": client.sign("GET", PATH, b"")}
        for _ in range(2):
            assert (await client.get(PATH, signed=False, headers=header)).status == 200

    async def test_suspended_credential_is_403(self, pgw: Pgw, client: PgwClient, tenant: Tenant) -> None:
        """A credential marked inactive is refused with 403 credential_suspended."""
        execute(pgw.db_path, "UPDATE credentials SET active=0 WHERE api_key=?", (tenant.api_key,))
        resp = await client.post(PATH, intent_body())
        assert (resp.status, resp.body["error"]["code"]) == (403, "credential_suspended")


class TestPaymentToken:
    async def test_token_retrieves_and_confirms(self, pgw: Pgw, client: PgwClient) -> None:
        """The create response's payment_token reads and confirms its intent without HMAC."""
        pi = await create(client, "cash")
        got = await client.get(f"{PATH}/{pi['id']}?payment_token={pi['payment_token']}", signed=False)
        assert (got.status, got.body["id"]) == (200, pi["id"])
        assert "payment_token" not in got.body
        done = await client.post(
            f"{PATH}/{pi['id']}/confirm",
            {"payment_token": pi["payment_token"], "cash_received": 1000},
            signed=False,
        )
        assert (done.status, done.body["status"]) == (200, "succeeded")
        actor = rows(
            pgw.db_path,
            "SELECT actor FROM transactions WHERE intent_id=? AND to_status='processing'",
            (pi["id"],),
        )
        assert actor == [("payment_token",)]

    async def test_token_is_stored_hashed(self, pgw: Pgw, client: PgwClient) -> None:
        """Only the SHA-256 of a token is in the database, never the token."""
        pi = await create(client)
        stored = rows(pgw.db_path, "SELECT token_hash FROM payment_tokens")
        assert stored == [(hashlib.sha256(pi["payment_token"].encode()).hexdigest(),)]
        assert pi["payment_token"].encode() not in db_bytes(pgw.db_path)
        assert len(pi["payment_token"]) >= len("tok_") + 22  # ≥ 128 bits of base64url

    async def test_token_cancels(self, pgw: Pgw, client: PgwClient) -> None:
        """A token holder may cancel its intent."""
        pi = await create(client)
        resp = await client.post(
            f"{PATH}/{pi['id']}/cancel", {"payment_token": pi["payment_token"]}, signed=False
        )
        assert resp.body["status"] == "cancelled"

    async def test_expired_token_is_401(self, pgw: Pgw, client: PgwClient, clock: SettableClock) -> None:
        """After 5 minutes the token is refused."""
        pi = await create(client)
        clock.advance(301)
        await expect_401(
            client.get(f"{PATH}/{pi['id']}?payment_token={pi['payment_token']}", signed=False),
            "invalid_payment_token",
        )

    @pytest.mark.parametrize("token", ["", "tok_unknown", "nope", "tok_" + "x" * 200])
    async def test_unknown_or_malformed_token_is_401(self, pgw: Pgw, client: PgwClient, token: str) -> None:
        """A token that was never issued is 401."""
        pi = await create(client)
        await expect_401(
            client.get(f"{PATH}/{pi['id']}?payment_token={token}", signed=False), "invalid_payment_token"
        )

    async def test_token_of_another_intent_is_404(self, pgw: Pgw, client: PgwClient) -> None:
        """A token is bound to one intent: used on another it finds nothing and changes nothing."""
        a, b = await create(client), await create(client)
        before = db_snapshot(pgw.db_path)
        resp = await client.post(
            f"{PATH}/{b['id']}/cancel", {"payment_token": a["payment_token"]}, signed=False
        )
        assert resp.status == 404
        assert db_snapshot(pgw.db_path) == before

    @pytest.mark.parametrize("call", ["capture", "sync"])
    async def test_token_cannot_use_hmac_only_endpoints(self, pgw: Pgw, client: PgwClient, call: str) -> None:
        """capture, sync and list need HMAC; a token there is 401."""
        pi = await create(client)
        resp = await client.post(
            f"{PATH}/{pi['id']}/{call}", {"payment_token": pi["payment_token"]}, signed=False
        )
        assert resp.status == 401

    async def test_hmac_retrieve_mints_a_fresh_token(self, pgw: Pgw, client: PgwClient) -> None:
        """An HMAC retrieve returns a new token; the old one keeps working until its TTL."""
        pi = await create(client)
        got = await client.get(f"{PATH}/{pi['id']}")
        fresh = got.body["payment_token"]
        assert fresh != pi["payment_token"]
        for token in (fresh, pi["payment_token"]):
            assert (await client.get(f"{PATH}/{pi['id']}?payment_token={token}", signed=False)).status == 200


class TestTenantIsolation:
    async def test_foreign_intent_is_404_everywhere(
        self, pgw: Pgw, client: PgwClient, other_client: PgwClient
    ) -> None:
        """Another partner's intent is 404 for retrieve, confirm, cancel, capture, sync; nothing changes."""
        pi = await create(client)
        before = db_snapshot(pgw.db_path)
        assert (await other_client.get(f"{PATH}/{pi['id']}")).status == 404
        for call in ("confirm", "cancel", "capture", "sync"):
            resp = await other_client.post(f"{PATH}/{pi['id']}/{call}", {})
            assert (resp.status, resp.body["error"]["code"]) == (404, "resource_missing"), call
        assert db_snapshot(pgw.db_path) == before

    async def test_list_shows_only_own_intents(
        self, pgw: Pgw, client: PgwClient, other_client: PgwClient
    ) -> None:
        """A partner's list never contains another partner's intents (same store code in both)."""
        mine = await create(client)
        theirs = await create(other_client)
        listed = (await client.get(PATH)).body["data"]
        assert [i["id"] for i in listed] == [mine["id"]]
        assert [i["id"] for i in (await other_client.get(PATH)).body["data"]] == [theirs["id"]]
