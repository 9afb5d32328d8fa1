"""POST /v1/sync/batches on a real server and SQLite file: per-item results, exactly once, limits, auth."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from cloud.testing import PgwClient, Tenant, db_snapshot

from ..conftest import Pgw
from ..helpers import rows, transitions
from .helpers import BATCHES, Chain, DeviceKeys, enroll, post_batch, sale


@pytest.fixture
def chain(device: DeviceKeys) -> Chain:
    """The device's hash chain."""
    return Chain(device.device_id)


def statuses(resp_body: dict[str, object]) -> list[str]:
    """The status of every result, in order."""
    return [r["status"] for r in resp_body["results"]]  # type: ignore[attr-defined]


class TestResults:
    async def test_mix_in_order(self, pgw: Pgw, dev: PgwClient, chain: Chain) -> None:
        """accepted / rejected / duplicate per item, in request order; rejected ones block nothing."""
        a = chain.add()
        bad_currency = chain.add(sale(currency="XXQ"))
        not_final = chain.add(sale(status="processing"))
        b = chain.add(sale("card", merchant_ref_id=a["intent"]["merchant_ref_id"]))
        c = chain.add(sale("card", status="failed"))
        first = await post_batch(dev, chain.batch([a, bad_currency, not_final]))
        assert first.status == 200, first.body
        assert statuses(first.body) == ["accepted", "rejected", "rejected"]
        assert first.body["results"][1]["error"]["code"] == "invalid_currency"
        assert first.body["results"][2]["error"]["param"] == "intent.status"
        second = await post_batch(dev, chain.batch([a, b, {"junk": True}, c]))
        assert statuses(second.body) == ["duplicate", "rejected", "rejected", "accepted"]
        res = second.body["results"]
        assert res[0]["payment_intent_id"] == first.body["results"][0]["payment_intent_id"]
        assert res[1]["error"]["code"] == "merchant_ref_id_in_use" and res[2]["local_id"] == ""
        assert [r["local_id"] for r in res] == [a["local_id"], b["local_id"], "", c["local_id"]]
        assert rows(pgw.db_path, "SELECT count(*) FROM payment_intents") == [(2,)]

    async def test_synced_sales_are_final_intents_with_transactions(
        self, pgw: Pgw, dev: PgwClient, client: PgwClient, chain: Chain, *, device: DeviceKeys, tenant: Tenant
    ) -> None:
        """Each sale becomes an intent in its final state, its path written as Transactions by the device."""
        items = [chain.add(sale("cash")), chain.add(sale("card", status="failed")),
                 chain.add(sale("card", status="cancelled"))]  # fmt: skip
        resp = await post_batch(dev, chain.batch(items))
        ids = [r["payment_intent_id"] for r in resp.body["results"]]
        listed = {i["id"]: i for i in (await client.get("/v1/payment_intents?limit=100")).body["data"]}
        assert [listed[i]["status"] for i in ids] == ["succeeded", "failed", "cancelled"]
        cash, card = listed[ids[0]], listed[ids[1]]
        assert (cash["processing_mode"], cash["change"], cash["merchant_store_id"]) == (
            "manual",
            800,
            tenant.store_code,
        )
        assert card["processing_mode"] == "external" and card["card"]["card_last_4"] == "4242"
        assert card["failure_code"] == "card_declined"
        paths = [[(f, t) for f, t, _ in _txns(pgw, i)] for i in ids]
        assert paths == [
            [(None, "requires_payment_method"), ("requires_payment_method", "processing"),
             ("processing", "succeeded")],
            [(None, "requires_payment_method"), ("requires_payment_method", "processing"),
             ("processing", "failed")],
            [(None, "requires_payment_method"), ("requires_payment_method", "cancelled")],
        ]  # fmt: skip
        assert {a for i in ids for _, _, a in _txns(pgw, i)} == {f"device:{device.device_id}"}
        mine = (await dev.get("/v1/payment_intents?limit=100")).body["data"]
        assert sorted(i["id"] for i in mine) == sorted(ids)

    async def test_pgw_processed_and_store_mismatch_are_rejected(self, dev: PgwClient, chain: Chain) -> None:
        """QR sales (processed online) and items claiming another store are rejected with a reason."""
        qr = chain.add(sale("qr_mpm"))
        foreign = chain.add(sale(metadata={"merchant_store_id": "someone-else"}))
        resp = await post_batch(dev, chain.batch([qr, foreign]))
        codes = [r["error"]["code"] for r in resp.body["results"]]
        assert codes == ["unsupported_processing_mode", "store_mismatch"]
        assert resp.body["results"][1]["error"]["type"] == "permission_error"

    async def test_rejection_is_final_on_resend(self, pgw: Pgw, dev: PgwClient, chain: Chain) -> None:
        """A re-sent rejected item gets the same rejection, and nothing is created for it."""
        bad = chain.add(sale(currency="ZZZ"))
        first = await post_batch(dev, chain.batch([bad]))
        again = await post_batch(dev, chain.batch([bad]))
        assert first.body["results"] == again.body["results"]
        assert rows(pgw.db_path, "SELECT count(*) FROM payment_intents") == [(0,)]

    async def test_response_shape(self, dev: PgwClient, chain: Chain, pgw: Pgw) -> None:
        """200 carries batch_id, server_time (ms) and one result per item."""
        batch = chain.batch([chain.add()])
        resp = await post_batch(dev, batch)
        assert set(resp.body) == {"batch_id", "server_time", "results"}
        assert resp.body["batch_id"] == batch["batch_id"]
        assert abs(resp.body["server_time"] - pgw.clock() * 1000) < 5000


def _txns(pgw: Pgw, intent_id: str) -> list[tuple[str | None, str, str]]:
    return transitions(pgw.db_path, intent_id)


class TestExactlyOnce:
    async def test_resent_batch_after_lost_response(self, pgw: Pgw, dev: PgwClient, chain: Chain) -> None:
        """The same items re-sent (new batch_id, new signature) are all duplicates with the first ids."""
        items = [chain.add() for _ in range(20)]
        first = await post_batch(dev, chain.batch(items))
        again = await post_batch(dev, chain.batch(items))
        assert statuses(again.body) == ["duplicate"] * 20
        assert [r["payment_intent_id"] for r in again.body["results"]] == \
            [r["payment_intent_id"] for r in first.body["results"]]  # fmt: skip
        assert rows(pgw.db_path, "SELECT count(*) FROM payment_intents") == [(20,)]

    async def test_concurrent_identical_batches_make_one_intent_each(
        self, pgw: Pgw, device: DeviceKeys, chain: Chain
    ) -> None:
        """Four connections post the same items at once: one intent per item, every answer agrees."""
        items = [chain.add() for _ in range(50)]
        sessions = [aiohttp.ClientSession() for _ in range(4)]
        try:
            clients = [PgwClient(s, pgw.url, device.api_key, device.secret_key, pgw.clock) for s in sessions]
            got = await asyncio.gather(*(post_batch(c, chain.batch(items)) for c in clients))
        finally:
            for s in sessions:
                await s.close()
        assert all(r.status == 200 for r in got), [r.body for r in got]
        ids = {tuple(r["payment_intent_id"] for r in g.body["results"]) for g in got}
        assert len(ids) == 1
        assert sum(statuses(g.body).count("accepted") for g in got) == 50
        assert rows(pgw.db_path, "SELECT count(*) FROM payment_intents") == [(50,)]
        assert rows(pgw.db_path, "SELECT count(DISTINCT payment_intent_id) FROM sync_items") == [(50,)]

    async def test_same_local_id_twice_in_one_batch(self, pgw: Pgw, dev: PgwClient, chain: Chain) -> None:
        """An item repeated inside one batch is accepted once, then duplicate with the same id."""
        item = chain.add()
        resp = await post_batch(dev, chain.batch([item, item]))
        assert statuses(resp.body) == ["accepted", "duplicate"]
        assert len({r["payment_intent_id"] for r in resp.body["results"]}) == 1

    @pytest.mark.sqlite_only("reads the DDL from sqlite_master")
    async def test_unique_constraint_guards_the_key(self, pgw: Pgw) -> None:
        """(device_id, local_id) is the PRIMARY KEY of sync_items in the migrated schema."""
        ddl = rows(pgw.db_path, "SELECT sql FROM sqlite_master WHERE name='sync_items'")[0][0]
        assert "PRIMARY KEY (device_id, local_id)" in ddl


class TestWholeBatchRefusals:
    async def test_501_items_is_413(self, pgw: Pgw, dev: PgwClient, chain: Chain) -> None:
        """More than 500 items is 413 and changes nothing."""
        before = db_snapshot(pgw.db_path)
        items = [chain.add(sale(amount=1)) for _ in range(501)]
        resp = await post_batch(dev, chain.batch(items))
        assert resp.status == 413 and resp.body["error"]["code"] == "batch_too_large"
        assert db_snapshot(pgw.db_path) == before

    async def test_over_one_mib_is_413(self, pgw: Pgw, dev: PgwClient, chain: Chain) -> None:
        """A body over 1 MiB is 413 (before authentication) and changes nothing."""
        before = db_snapshot(pgw.db_path)
        items = [chain.add(sale(metadata={"note": "x" * 4000})) for _ in range(300)]
        raw = json.dumps(chain.batch(items)).encode()
        assert len(raw) > 1024 * 1024
        resp = await dev.post(BATCHES, raw=raw)
        assert resp.status == 413, resp.body
        assert db_snapshot(pgw.db_path) == before

    async def test_other_device_id_is_403(
        self, pgw: Pgw, tenant: Tenant, dev: PgwClient, chain: Chain
    ) -> None:
        """A device posting under another device's id is refused whole with 403."""
        other = await enroll(pgw, tenant, "SN-2")
        before = db_snapshot(pgw.db_path)
        resp = await post_batch(dev, chain.batch([chain.add()], device_id=other.device_id))
        assert resp.status == 403 and resp.body["error"]["code"] == "device_mismatch"
        assert db_snapshot(pgw.db_path) == before

    async def test_partner_key_is_403(self, pgw: Pgw, client: PgwClient, chain: Chain) -> None:
        """A ClientPartner key cannot post sync batches."""
        before = db_snapshot(pgw.db_path)
        resp = await post_batch(client, chain.batch([chain.add()]))
        assert resp.status == 403 and resp.body["error"]["code"] == "device_credential_required"
        assert db_snapshot(pgw.db_path) == before

    async def test_forged_signature_is_401(self, pgw: Pgw, device: DeviceKeys, chain: Chain) -> None:
        """A batch signed with a wrong secret is 401 and changes nothing."""
        forger = PgwClient(pgw.session, pgw.url, device.api_key, "sk_dev_guess", pgw.clock)
        before = db_snapshot(pgw.db_path)
        resp = await post_batch(forger, chain.batch([chain.add()]))
        assert resp.status == 401 and resp.body["error"]["code"] == "invalid_signature"
        assert db_snapshot(pgw.db_path) == before

    async def test_replayed_signature_is_401(self, pgw: Pgw, dev: PgwClient, chain: Chain) -> None:
        """The exact same signed request sent twice: the second is 401 replayed_request."""
        raw = json.dumps(chain.batch([chain.add()])).encode()
        auth = dev.sign("POST", BATCHES, raw)
        first = await dev.post(BATCHES, raw=raw, signed=False, headers={"Authorization": auth})
        before = db_snapshot(pgw.db_path)
        second = await dev.post(BATCHES, raw=raw, signed=False, headers={"Authorization": auth})
        assert first.status == 200 and second.status == 401
        assert second.body["error"]["code"] == "replayed_request"
        assert db_snapshot(pgw.db_path) == before

    @pytest.mark.parametrize("raw", [b"{", b"[]", b'{"batch_id": "b", "device_id": "d", "sent_at": 1}'])
    async def test_malformed_envelope_is_400_or_422(self, pgw: Pgw, dev: PgwClient, raw: bytes) -> None:
        """A body that is not a batch envelope is a JSON 400/422 error, never a 500."""
        before = db_snapshot(pgw.db_path)
        resp = await dev.post(BATCHES, raw=raw)
        assert resp.status in (400, 422), resp.body
        assert db_snapshot(pgw.db_path) == before


class TestHostileNumbers:
    async def test_huge_integers_are_rejected_not_crashing(self, dev: PgwClient, chain: Chain) -> None:
        """seq / created_at past 2^53 are rejected per item, a huge sent_at is 422; serving goes on."""
        huge = chain.add()
        huge["seq"], huge["created_at"] = 2**70, 2**70
        ok = chain.add()
        resp = await post_batch(dev, chain.batch([huge, ok]))
        assert resp.status == 200, resp.body
        assert [r["status"] for r in resp.body["results"]] == ["rejected", "accepted"]
        batch = chain.batch([chain.add()])
        batch["sent_at"] = 2**70
        assert (await post_batch(dev, batch)).status == 422
        after = await post_batch(dev, chain.batch([chain.add()]))
        assert after.status == 200 and after.body["results"][0]["status"] == "accepted"

    @pytest.mark.parametrize("item", [None, 7, "x", [], {"local_id": ["a"]}, {"local_id": "a", "intent": 3}])
    async def test_non_object_items_are_rejected(self, dev: PgwClient, chain: Chain, item: object) -> None:
        """Items that are not sale objects are rejected one by one, never a 500."""
        resp = await post_batch(dev, chain.batch([item, chain.add()]))  # type: ignore[list-item]
        assert resp.status == 200, resp.body
        assert [r["status"] for r in resp.body["results"]] == ["rejected", "accepted"]


class TestIdempotencyKey:
    async def test_same_key_replays_the_stored_results(self, pgw: Pgw, dev: PgwClient, chain: Chain) -> None:
        """A batch re-sent with its Idempotency-Key gets the stored 200 (accepted again) and adds no rows."""
        raw = json.dumps(chain.batch([chain.add(), chain.add()])).encode()
        first = await dev.post(BATCHES, raw=raw, headers={"Idempotency-Key": "batch-1"})
        before = rows(pgw.db_path, "SELECT count(*) FROM payment_intents")
        again = await dev.post(BATCHES, raw=raw, headers={"Idempotency-Key": "batch-1"})
        assert first.status == again.status == 200
        assert again.body == first.body and again.headers.get("Idempotent-Replayed") == "true"
        assert rows(pgw.db_path, "SELECT count(*) FROM payment_intents") == before == [(2,)]
