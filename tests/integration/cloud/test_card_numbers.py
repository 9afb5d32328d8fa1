"""Card numbers refused in every free-form field on the cloud, and never on disk (real server, real file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cloud.testing import PgwClient, Tenant, db_bytes

from .conftest import Pgw
from .helpers import create, intent_body
from .sync.helpers import BATCHES, Chain, device_client, enroll, sale

PAN = "4111111111111111"
FORMS = (PAN, "4111 1111 1111 1111", "4111-1111-1111-1111")


def on_disk(db_path: Path | str) -> bytes:
    """Every byte of the database (its files on SQLite, every row on PostgreSQL)."""
    return db_bytes(db_path)


def assert_nowhere(pgw: Pgw, *answers: Any) -> None:
    """No form of the card number in the database files or in any answer."""
    disk = on_disk(pgw.db_path)
    for form in FORMS:
        assert form.encode() not in disk
        assert all(form not in repr(a) for a in answers)


class TestPaymentIntents:
    @pytest.mark.parametrize(("extra", "param"), [
        ({"metadata": {"note": PAN}}, "metadata.note"),
        ({"metadata": {PAN: "x"}}, "metadata.************1111"),
        ({"description": f"card {PAN}"}, "description"),
    ])  # fmt: skip
    async def test_create_refuses(self, pgw: Pgw, client: PgwClient, extra: dict[str, Any],
                                  param: str) -> None:  # fmt: skip
        """A PAN in create metadata (value or key) or description: 422 card_number_refused naming it."""
        resp = await client.post("/v1/payment_intents", intent_body("cash", **extra))
        assert (resp.status, resp.body["error"]["code"]) == (422, "card_number_refused")
        assert resp.body["error"]["param"] == param
        assert_nowhere(pgw, resp.body)

    @pytest.mark.parametrize("field", ["approval_code", "card_brand", "entry_method"])
    async def test_confirm_refuses(self, pgw: Pgw, client: PgwClient, field: str) -> None:
        """A PAN in any free-form card_result field of a confirm: 422, the intent unchanged."""
        pi = await create(client, "card")
        card = {"status": "approved", "card_last_4": "1111", field: PAN[:16]}
        resp = await client.post(f"/v1/payment_intents/{pi['id']}/confirm", {"card_result": card})
        assert (resp.status, resp.body["error"]["code"]) == (422, "card_number_refused")
        assert resp.body["error"]["param"] == f"card_result.{field}"
        after = await client.get(f"/v1/payment_intents/{pi['id']}")
        assert after.body["status"] == "requires_payment_method"
        assert_nowhere(pgw, resp.body, after.body)

    async def test_last_four_and_ordinary_numbers_pass(self, pgw: Pgw, client: PgwClient) -> None:
        """Epoch milliseconds, order numbers and an approval code are not card numbers."""
        pi = await create(client, "card", metadata={"at": "1702123456000", "order": "0000123456789012"},
                          description="table 12")  # fmt: skip
        resp = await client.post(f"/v1/payment_intents/{pi['id']}/confirm", {"card_result": {
            "status": "approved", "approval_code": "004211", "card_brand": "VISA", "card_last_4": "1111"}})
        assert resp.status == 200, resp.body


class TestSyncItems:
    @pytest.mark.parametrize(("where", "value", "param"), [
        ("result", {"approval_code": PAN}, "intent.result.approval_code"),
        ("result", {"card_brand": PAN}, "intent.result.card_brand"),
        ("result", {"decline_reason": f"refused {PAN}"}, "intent.result.decline_reason"),
        ("result", {"failure_code": PAN}, "intent.result.failure_code"),
        ("metadata", {"note": "4111 1111 1111 1111"}, "intent.metadata.note"),
        ("metadata", {"n": int(PAN)}, "intent.metadata.n"),
    ])  # fmt: skip
    async def test_item_rejected(self, pgw: Pgw, tenant: Tenant, where: str, value: dict[str, Any],
                                 param: str) -> None:  # fmt: skip
        """A PAN in an item's result or metadata: that item rejected card_number_refused, the rest accepted,
        and the card number nowhere in the database."""
        keys = await enroll(pgw, tenant)
        dev, chain = device_client(pgw, keys), Chain(keys.device_id)
        base = sale("card", status="failed")
        bad = chain.add({**base, where: {**base[where], **value}})
        good = chain.add()
        resp = await dev.post(BATCHES, chain.batch([bad, good]))
        assert resp.status == 200, resp.body
        first, second = resp.body["results"]
        assert (first["status"], first["error"]["code"], first["error"]["param"]) == \
            ("rejected", "card_number_refused", param)  # fmt: skip
        assert second["status"] == "accepted"
        again = await dev.post(BATCHES, chain.batch([bad]))
        assert again.body["results"][0]["error"]["code"] == "card_number_refused"
        assert_nowhere(pgw, resp.body, again.body)
