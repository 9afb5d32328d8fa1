"""GET /openapi.json describes the items of POST /v1/sync/batches as the intake takes them
(docs/sync-protocol.md, "Refund items"): a sale or a refund, each with the fields and bounds the server
enforces. Items posted to a real server on SQLite and PostgreSQL: each one the server accepts validates
against the published schema, each one it rejects as `invalid_item` does not (validated with jsonschema_rs,
which schemathesis brings along)."""

from __future__ import annotations

import time
from typing import Any

import jsonschema_rs
from uuid6 import uuid7

from cloud.domain.intake import MAX_INT
from cloud.testing import PgwClient
from sync.wire import item_hash

from ..conftest import Pgw
from ..sync.helpers import Chain, DeviceKeys, post_batch, sale

SCHEMAS = "#/components/schemas/"
PI = "pi_" + "0123456789ABCDEFGHJKMNPQRS"  # well formed, names no intent


async def _document(pgw: Pgw) -> dict[str, Any]:
    async with pgw.session.get(pgw.url + "/openapi.json") as resp:
        assert resp.status == 200
        doc: dict[str, Any] = await resp.json()
        return doc


def validator(doc: dict[str, Any], pointer: str) -> jsonschema_rs.Validator:
    """A JSON Schema 2020-12 validator of the document's schema at `pointer` (its $refs resolved in it)."""
    return jsonschema_rs.validator_for({"$ref": pointer, "components": doc["components"]})


def chained(chain: Chain, item: dict[str, Any]) -> dict[str, Any]:
    """A refund item (or a would-be one) with `item`'s fields, appended to the device's chain."""
    chain.seq += 1
    full: dict[str, Any] = {"kind": "refund", "local_id": str(uuid7()), "seq": chain.seq,
                            "created_at": int(time.time() * 1000), "prev_hash": chain.head,
                            **item}  # fmt: skip
    full["hash"] = item_hash(full["prev_hash"], full)
    chain.head = full["hash"]
    return full


def refund(paid: str, **fields: Any) -> dict[str, Any]:
    """The `refund` object of a small JPY refund of the sale `paid` (a local_id), with `fields` over it."""
    return {"amount": 100, "currency": "JPY", "payment_local_id": paid, **fields}


class TestSyncItemsSchema:
    async def test_the_items_are_a_sale_or_a_refund(self, pgw: Pgw) -> None:
        """items is a oneOf of SyncItem and SyncRefundItem; the refund's required fields and bounds are the
        intake's."""
        schemas = (await _document(pgw))["components"]["schemas"]
        items = schemas["SyncBatch"]["properties"]["items"]
        refs = [{"$ref": f"{SCHEMAS}{name}"} for name in ("SyncItem", "SyncRefundItem")]
        assert items["items"]["oneOf"] == refs
        assert items["maxItems"] == 500
        item, body = schemas["SyncRefundItem"], schemas["SyncRefund"]
        chain_fields = {"local_id", "seq", "created_at", "prev_hash", "hash"}
        assert set(item["required"]) == {"kind", "refund", *chain_fields}
        assert item["properties"]["kind"]["const"] == "refund"
        assert "kind" not in schemas["SyncItem"]["properties"]  # a sale has none
        for schema in (item, schemas["SyncItem"]):
            assert schema["additionalProperties"] is False
            seq, created_at = schema["properties"]["seq"], schema["properties"]["created_at"]
            assert (seq["minimum"], seq["maximum"], created_at["maximum"]) == (1, MAX_INT, MAX_INT)
        assert set(body["required"]) == {"amount", "currency"} and body["additionalProperties"] is False
        amount = body["properties"]["amount"]
        assert (amount["exclusiveMinimum"], amount["maximum"]) == (0, 10**12)
        one_of = [branch["required"] for branch in body["oneOf"]]
        assert one_of == [["payment_local_id"], ["payment_intent_id"]]

    async def test_accepted_items_validate_and_invalid_ones_do_not(
        self, pgw: Pgw, dev: PgwClient, device: DeviceKeys
    ) -> None:
        """One batch: a sale, refunds the server accepts, and refunds it rejects as invalid_item; the
        published item schema agrees with the server on every one, and the batch body validates as a whole
        only without the rejected ones."""
        doc = await _document(pgw)
        item_schema = validator(doc, SCHEMAS + "SyncBatch/properties/items/items")
        chain = Chain(device.device_id)
        s = chain.add(sale("cash", amount=1000))
        paid = s["local_id"]
        accepted = [
            chained(chain, {"refund": refund(paid, reason="customer_return", merchant_refund_id="DEV-R1")}),
            chained(chain, {"refund": refund(paid, payment_intent_id=None)}),  # null is "not sent"
            chained(chain, {"refund": refund(paid, amount=1, reason="x" * 255)}),
        ]
        rejected = [chained(chain, fields) for fields in (
            {"refund": refund(paid, payment_intent_id=PI)},  # both payment references
            {"refund": {"amount": 100, "currency": "JPY"}},  # neither
            {"refund": refund(paid, amount=0)},
            {"refund": refund(paid, amount=10**12 + 1)},
            {"refund": refund(paid, amount="100")},
            {"refund": refund(paid, amount=True)},
            {"refund": refund(paid, currency="jpy")},
            {"refund": refund(paid, reason="")},
            {"refund": refund(paid, merchant_refund_id="m" * 256)},
            {"refund": refund("not a local id")},
            {"refund": refund(paid, note="unknown field")},
            {"refund": refund(paid), "note": "unknown field"},
            {"refund": refund(paid), "created_at": MAX_INT + 1},
            {"refund": refund(paid), "kind": "Refund"},  # not a refund: then a sale, and not a valid one
            {"kind": "refund"},  # no refund object
        )]  # fmt: skip
        resp = await post_batch(dev, chain.batch([s, *accepted, *rejected]))
        assert resp.status == 200, resp.body
        got = [(r["status"], r.get("error", {}).get("code")) for r in resp.body["results"]]
        ok, invalid = ("accepted", None), ("rejected", "invalid_item")
        assert got == [ok] * (1 + len(accepted)) + [invalid] * len(rejected)
        for posted in (s, *accepted):
            assert item_schema.is_valid(posted), posted
        for posted in rejected:
            assert not item_schema.is_valid(posted), posted
        body_schema = validator(doc, SCHEMAS + "SyncBatch")
        assert body_schema.is_valid(chain.batch([s, *accepted]))
        assert not body_schema.is_valid(chain.batch([s, *accepted, rejected[0]]))
