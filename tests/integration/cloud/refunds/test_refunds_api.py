"""POST/GET /v1/payment_intents/{id}/refunds on a real server, on SQLite and PostgreSQL: cash and card
refunds, refusals that write nothing, Idempotency-Key, the device credential, and racing refunds."""

from __future__ import annotations

import asyncio

from cloud.testing import PgwClient, Tenant, db_snapshot

from ..conftest import Pgw
from ..helpers import create, rows, transitions
from ..sync.helpers import device_client, enroll
from .helpers import paid, refunds_path


class TestRefund:
    async def test_partial_then_rest(self, pgw: Pgw, client: PgwClient) -> None:
        """Two partial refunds up to the amount: each 201 succeeded, the intent shows amount_refunded, the
        list
        holds both, and each wrote one Transaction on the intent."""
        pi = await paid(client, 1000)
        first = await client.post(refunds_path(pi["id"]), {"amount": 300, "reason": "customer_return",
                                                             "merchant_refund_id": "R-1"})  # fmt: skip
        assert first.status == 201, first.body
        body = first.body
        assert body["id"].startswith("re_") and len(body["id"]) == 29
        assert {k: body[k] for k in ("object", "payment_intent_id", "amount", "currency", "reason",
                                     "merchant_refund_id", "status")} == {
            "object": "refund", "payment_intent_id": pi["id"], "amount": 300, "currency": "JPY",
            "reason": "customer_return", "merchant_refund_id": "R-1", "status": "succeeded"}  # fmt: skip
        assert isinstance(body["created"], int)
        second = await client.post(refunds_path(pi["id"]), {"amount": 700})
        assert (second.status, second.body["status"], second.body["reason"]) == (201, "succeeded", None)
        intent = await client.get(f"/v1/payment_intents/{pi['id']}")
        assert (intent.body["amount_refunded"], intent.body["status"]) == (1000, "succeeded")
        listed = await client.get(refunds_path(pi["id"]))
        assert [r["id"] for r in listed.body["data"]] == [body["id"], second.body["id"]]
        assert listed.body["has_more"] is False
        assert [t[:2] for t in transitions(pgw.db_path, pi["id"])[-2:]] == [("succeeded", "succeeded")] * 2
        sql = "SELECT reason FROM transactions WHERE intent_id = ? AND reason LIKE 'refund %'"
        reasons = rows(pgw.db_path, sql,
                       (pi["id"],))  # fmt: skip
        assert sorted(r[0] for r in reasons) == sorted(
            [f"refund {body['id']} succeeded 300", f"refund {second.body['id']} succeeded 700"]
        )

    async def test_fresh_intent_lists_zero(self, client: PgwClient) -> None:
        """An intent never refunded shows amount_refunded 0 and an empty refund list."""
        pi = await create(client, "cash")
        assert pi["amount_refunded"] == 0
        listed = await client.get(refunds_path(pi["id"]))
        assert (listed.status, listed.body["data"]) == (200, [])


class TestList:
    async def test_pages(self, client: PgwClient) -> None:
        """limit and starting_after page through an intent's refunds oldest first; bad values are 400."""
        pi = await paid(client, 1000)
        made = [(await client.post(refunds_path(pi["id"]), {"amount": 100, "reason": f"r{n}"})).body["id"]
                for n in range(3)]  # fmt: skip
        first = await client.get(refunds_path(pi["id"]) + "?limit=2")
        assert ([r["id"] for r in first.body["data"]], first.body["has_more"]) == (made[:2], True)
        rest = await client.get(refunds_path(pi["id"]) + f"?limit=2&starting_after={made[1]}")
        assert ([r["id"] for r in rest.body["data"]], rest.body["has_more"]) == (made[2:], False)
        for query in ("limit=0", "limit=101", "starting_after=pi_x", "other=1"):
            bad = await client.get(refunds_path(pi["id"]) + f"?{query}")
            assert (bad.status, bad.body["error"]["code"]) == (400, "invalid_parameter"), query


class TestRefusals:
    async def test_each_refusal_writes_nothing(
        self, pgw: Pgw, client: PgwClient, other_tenant: Tenant
    ) -> None:
        """Over the remaining amount, an unpaid intent, a used merchant_refund_id, another tenant's intent and
        bad bodies are refused with their codes, and the database is unchanged by them."""
        pi = await paid(client, 1000)
        assert (
            await client.post(refunds_path(pi["id"]), {"amount": 400, "merchant_refund_id": "R-9"})
        ).status == 201
        unpaid = await create(client, "cash")
        other = pgw.client(other_tenant)
        before = db_snapshot(pgw.db_path)
        cases = [
            (pi["id"], {"amount": 601}, client, 409, "refund_exceeds_remaining"),
            (unpaid["id"], {"amount": 1}, client, 409, "payment_not_refundable"),
            (pi["id"], {"amount": 1, "merchant_refund_id": "R-9"}, client, 409, "merchant_refund_id_in_use"),
            (pi["id"], {"amount": 1}, other, 404, "resource_missing"),
            (pi["id"], {"amount": 0}, client, 422, None),
            (pi["id"], {"amount": "5"}, client, 422, None),
            (pi["id"], {"amount": 5, "extra": 1}, client, 422, None),
            (pi["id"], {"amount": 5, "reason": ""}, client, 422, None),
            (pi["id"], {}, client, 422, None),
            (pi["id"], {"amount": 5, "reason": "card 4242424242424242"}, client, 422, "card_number_refused"),
            ("pi_nope", {"amount": 1}, client, 404, "resource_missing"),
        ]
        for intent_id, body, who, status, code in cases:
            resp = await who.post(refunds_path(intent_id), body)
            assert resp.status == status, (body, resp.body)
            assert code is None or resp.body["error"]["code"] == code, resp.body
        bad_json = await client.post(refunds_path(pi["id"]), raw=b"{not json")
        assert bad_json.status == 400
        after = db_snapshot(pgw.db_path)
        assert after == before


class TestIdempotency:
    async def test_same_key_one_refund(self, pgw: Pgw, client: PgwClient) -> None:
        """The same Idempotency-Key and body again replays the first refund; only one is stored."""
        pi = await paid(client, 1000)
        key = {"Idempotency-Key": "refund-once-1"}
        first = await client.post(refunds_path(pi["id"]), {"amount": 500}, headers=key)
        again = await client.post(refunds_path(pi["id"]), {"amount": 500}, headers=key)
        assert (first.status, again.status) == (201, 201)
        assert again.body == first.body and again.headers.get("Idempotent-Replayed") == "true"
        assert rows(pgw.db_path, "SELECT count(*) FROM refunds") == [(1,)]
        other = await client.post(refunds_path(pi["id"]), {"amount": 1}, headers=key)
        assert (other.status, other.body["error"]["code"]) == (422, "idempotency_key_reused")

    async def test_refusal_is_kept_under_its_key(self, pgw: Pgw, client: PgwClient) -> None:
        """A refused refund (over the rest) is recorded under its key: the retry is answered the same 409 from
        the record, and no refund is stored."""
        pi = await paid(client, 1000)
        key = {"Idempotency-Key": "refund-too-much"}
        first = await client.post(refunds_path(pi["id"]), {"amount": 1001}, headers=key)
        assert (first.status, first.body["error"]["code"]) == (409, "refund_exceeds_remaining")
        again = await client.post(refunds_path(pi["id"]), {"amount": 1001}, headers=key)
        assert (again.status, again.body) == (409, first.body)
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert rows(pgw.db_path, "SELECT count(*) FROM refunds") == [(0,)]


class TestDeviceCredential:
    async def test_device_refunds_its_store(self, pgw: Pgw, tenant: Tenant, client: PgwClient) -> None:
        """A device credential refunds an intent of its store; the refund's actor is the device."""
        keys = await enroll(pgw, tenant)
        pi = await paid(device_client(pgw, keys), 800, method="card")
        resp = await device_client(pgw, keys).post(refunds_path(pi["id"]), {"amount": 800})
        assert (resp.status, resp.body["status"]) == (201, "succeeded"), resp.body
        assert rows(pgw.db_path, "SELECT actor FROM refunds") == [(f"device:{keys.device_id}",)]


async def _race(client: PgwClient, intent_id: str, amount: int, n: int) -> list[int]:
    # A distinct reason each: identical signed requests would be refused as replays (docs/cloud-api.md).
    bodies = [{"amount": amount, "reason": f"race-{i}"} for i in range(n)]
    replies = await asyncio.gather(*(client.post(refunds_path(intent_id), b) for b in bodies))
    for r in replies:
        assert r.status == 201 or r.body["error"]["code"] == "refund_exceeds_remaining", r.body
    return [r.status for r in replies]


class TestRace:
    async def test_two_that_together_exceed(self, pgw: Pgw, client: PgwClient) -> None:
        """Two concurrent refunds of 600 against 1000: exactly one is accepted."""
        pi = await paid(client, 1000)
        statuses = await _race(client, pi["id"], 600, 2)
        assert sorted(statuses) == [201, 409]
        assert rows(pgw.db_path, "SELECT amount_refunded FROM payment_intents WHERE id = ?", (pi["id"],)) == [
            (600,)
        ]

    async def test_twenty_that_together_exceed(self, pgw: Pgw, client: PgwClient) -> None:
        """Twenty concurrent refunds of 70 against 1000: exactly 14 are accepted (980), 6 refused."""
        pi = await paid(client, 1000)
        statuses = await _race(client, pi["id"], 70, 20)
        assert statuses.count(201) == 14 and statuses.count(409) == 6
        assert rows(pgw.db_path, "SELECT count(*), sum(amount) FROM refunds") == [(14, 980)]
        assert rows(pgw.db_path, "SELECT amount_refunded FROM payment_intents WHERE id = ?", (pi["id"],)) == [
            (980,)
        ]
