"""Refund items in POST /v1/sync/batches on a real server, SQLite and PostgreSQL: on the sales' chain,
exactly once per (device_id, local_id), refused with their codes, and never past what was paid."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from uuid6 import uuid7

from cloud.testing import PgwClient
from sync.wire import item_hash

from ..conftest import Pgw
from ..helpers import rows
from ..sync.helpers import Chain, DeviceKeys, post_batch, sale
from .helpers import refunds_path


def add_refund(chain: Chain, amount: int, **ref: Any) -> dict[str, Any]:
    """Append a refund item (currency JPY unless given) to the device's chain."""
    chain.seq += 1
    body = {"amount": amount, "currency": "JPY", **ref}
    item: dict[str, Any] = {"kind": "refund", "local_id": str(uuid7()), "seq": chain.seq,
                            "created_at": int(time.time() * 1000), "prev_hash": chain.head,
                            "refund": body}  # fmt: skip
    item["hash"] = item_hash(item["prev_hash"], item)
    chain.head = item["hash"]
    chain.items.append(item)
    return item


def _refunded(pgw: Pgw, intent_id: str) -> int:
    found = rows(pgw.db_path, "SELECT amount_refunded FROM payment_intents WHERE id = ?", (intent_id,))
    return int(found[0][0])


class TestRefundItems:
    async def test_sale_and_refund_in_one_batch_once(
        self, pgw: Pgw, dev: PgwClient, device: DeviceKeys
    ) -> None:
        """A refund after its sale in the same batch is accepted with its refund_id; sent again it is a
        duplicate with the same ids and nothing more is stored; the chain stays whole."""
        chain = Chain(device.device_id)
        s = chain.add(sale("cash", amount=1000))
        r = add_refund(chain, 300, reason="customer_return", merchant_refund_id="DEV-R1",
                       payment_local_id=s["local_id"])  # fmt: skip
        first = await post_batch(dev, chain.batch([s, r]))
        assert first.status == 200, first.body
        sold, refunded = first.body["results"]
        assert (refunded["status"], refunded["payment_intent_id"]) == ("accepted", sold["payment_intent_id"])
        assert refunded["refund_id"].startswith("re_")
        again = await post_batch(dev, chain.batch([s, r]))
        assert again.body["results"][1] == {**refunded, "status": "duplicate"}
        assert rows(pgw.db_path, "SELECT count(*), sum(amount) FROM refunds") == [(1, 300)]
        assert _refunded(pgw, sold["payment_intent_id"]) == 300
        state = rows(pgw.db_path, "SELECT last_seq, chain_broken, anomalies FROM device_sync_state")
        assert state == [(2, 0, 0)]

    async def test_later_batch_and_by_intent_id(self, pgw: Pgw, dev: PgwClient, device: DeviceKeys,
                                                client: PgwClient) -> None:  # fmt: skip
        """A refund of a sale synced earlier, by local_id or by payment_intent_id, shows on the cloud's intent
        and in its refund list."""
        chain = Chain(device.device_id)
        s = chain.add(sale("card", amount=2000))
        pi = (await post_batch(dev, chain.batch([s]))).body["results"][0]["payment_intent_id"]
        a = add_refund(chain, 500, payment_local_id=s["local_id"])
        b = add_refund(chain, 1500, payment_intent_id=pi)
        resp = await post_batch(dev, chain.batch([a, b]))
        assert [x["status"] for x in resp.body["results"]] == ["accepted", "accepted"], resp.body
        intent = await client.get(f"/v1/payment_intents/{pi}")
        assert intent.body["amount_refunded"] == 2000
        listed = await client.get(refunds_path(pi))
        assert [(x["amount"], x["status"]) for x in listed.body["data"]] == [
            (500, "succeeded"),
            (1500, "succeeded"),
        ]

    async def test_refusals_keep_the_chain(self, pgw: Pgw, dev: PgwClient, device: DeviceKeys) -> None:
        """Each refusal code in one batch; the items stay on the chain (no anomaly), a re-send gets the same
        answers, and nothing past the sale's amount is refunded."""
        chain = Chain(device.device_id)
        s = chain.add(sale("cash", amount=1000))
        failed = chain.add(sale("card", status="failed"))
        items = [
            s, failed,
            add_refund(chain, 600, payment_local_id=s["local_id"], merchant_refund_id="R-1"),
            add_refund(chain, 500, payment_local_id=s["local_id"]),
            add_refund(chain, 10, payment_local_id=str(uuid7())),
            add_refund(chain, 10, payment_local_id=failed["local_id"]),
            add_refund(chain, 10, currency="USD", payment_local_id=s["local_id"]),
            add_refund(chain, 10, payment_local_id=s["local_id"], merchant_refund_id="R-1"),
            add_refund(chain, 10),
        ]  # fmt: skip
        resp = await post_batch(dev, chain.batch(items))
        codes = [x.get("error", {}).get("code", x["status"]) for x in resp.body["results"]]
        assert codes == ["accepted", "accepted", "accepted", "refund_exceeds_remaining", "payment_not_found",
                         "payment_not_refundable", "currency_mismatch", "merchant_refund_id_in_use",
                         "invalid_item"]  # fmt: skip
        again = await post_batch(dev, chain.batch(items[2:]))
        assert again.body["results"][1:] == resp.body["results"][3:]
        assert rows(pgw.db_path, "SELECT last_seq, chain_broken, anomalies FROM device_sync_state") == [
            (9, 0, 0)
        ]
        assert rows(pgw.db_path, "SELECT count(*), sum(amount) FROM refunds") == [(1, 600)]

    async def test_race_with_the_refund_api(self, pgw: Pgw, dev: PgwClient, device: DeviceKeys,
                                            client: PgwClient) -> None:  # fmt: skip
        """A synced refund and an API refund of 700 each race for a sale of 1000: exactly one is taken."""
        chain = Chain(device.device_id)
        s = chain.add(sale("cash", amount=1000))
        pi = (await post_batch(dev, chain.batch([s]))).body["results"][0]["payment_intent_id"]
        r = add_refund(chain, 700, payment_local_id=s["local_id"])
        synced, online = await asyncio.gather(post_batch(dev, chain.batch([r])),
                                              client.post(refunds_path(pi), {"amount": 700}))  # fmt: skip
        outcomes = [synced.body["results"][0]["status"] == "accepted", online.status == 201]
        assert outcomes.count(True) == 1, (synced.body, online.body)
        assert _refunded(pgw, pi) == 700

    async def test_same_refund_in_two_concurrent_batches(
        self, pgw: Pgw, dev: PgwClient, device: DeviceKeys
    ) -> None:
        """The same sale and refund sent in two batches at once: one refund is stored; one batch has it
        accepted, the other duplicate (after a lost race, re-planned), both with the same refund_id."""
        chain = Chain(device.device_id)
        s = chain.add(sale("cash", amount=1000))
        r = add_refund(chain, 1000, payment_local_id=s["local_id"])
        one, two = await asyncio.gather(
            post_batch(dev, chain.batch([s, r])), post_batch(dev, chain.batch([s, r]))
        )
        assert (one.status, two.status) == (200, 200), (one.body, two.body)
        answers = [one.body["results"][1], two.body["results"][1]]
        assert sorted(a["status"] for a in answers) == ["accepted", "duplicate"]
        assert answers[0]["refund_id"] == answers[1]["refund_id"]
        assert rows(pgw.db_path, "SELECT count(*), sum(amount) FROM refunds") == [(1, 1000)]
