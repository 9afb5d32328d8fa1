"""No card number reaches the agent's SQLite file: refused in every free-form field, masked from a reader."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from agent.deps import Devices
from agent.domain.ports import CardResult
from agent.entrypoints.api.keys import DEPS
from tests.integration.agent.conftest import FakeCardReader, MakeClient

PAN = "4111111111111111"
FORMS = (PAN, "4111 1111 1111 1111", "4111-1111-1111-1111")
CASH: dict[str, Any] = {"amount": 500, "payment_method": "cash", "cash_received": 500}
MARKER = "marker-proves-the-file-is-read"


def card_sale(**result: Any) -> dict[str, Any]:
    """A card sale with a reported result, fields overridden."""
    return {"amount": 500, "payment_method": "card",
            "card_result": {"status": "approved", "approval_code": "A1", "card_last_4": "1111", **result}}


def on_disk(client: TestClient[Any, Any]) -> bytes:
    """The bytes of the agent's database file and its WAL, as they are on disk now."""
    path: Path = client.app[DEPS].settings.agent.db_path
    return b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists())


def assert_no_pan(data: bytes | str) -> None:
    """None of the three written forms of the test card number is in `data`."""
    raw = data.encode() if isinstance(data, str) else data
    for form in FORMS:
        assert form.encode() not in raw


def cases(pan: str) -> list[tuple[str, dict[str, Any]]]:
    """(the field the refusal must name, a sale holding `pan` there)."""
    return [
        ("metadata.note", {**CASH, "metadata": {"note": f"card {pan}"}}),
        (f"metadata.{'*' * 12}1111", {**CASH, "metadata": {pan: "x"}}),
        ("merchant_ref_id", {**CASH, "merchant_ref_id": pan.replace(" ", "-")}),
        ("lines[0].name", {**CASH, "lines": [{"name": f"gift {pan}", "amount": 500}]}),
        ("card_result.approval_code", card_sale(approval_code=pan)),
        ("card_result.card_brand", card_sale(card_brand=pan)),
        ("card_result.decline_reason", card_sale(status="declined", decline_reason=f"bad {pan}")),
        ("metadata.order", {"amount": 500, "payment_method": "qr_mpm", "metadata": {"order": pan}}),
    ]


class TestRefusedInTheRequest:
    """A sale whose free-form field holds a card number is refused and leaves no copy on disk."""

    @pytest.mark.parametrize("pan", FORMS)
    async def test_every_free_form_field(self, make_client: MakeClient, pan: str) -> None:
        """422 card_number_refused naming the field, the number not echoed, nothing stored."""
        client = await make_client()
        for field, sale in cases(pan):
            resp = await client.post("/api/sales", json=sale)
            text = await resp.text()
            error = (await resp.json())["error"]
            assert (resp.status, error["code"], error["param"]) == (422, "card_number_refused", field), field
            assert_no_pan(text)
        resp = await client.post("/api/sales", json={**CASH, "metadata": {"note": MARKER}})
        assert resp.status == 201
        disk = on_disk(client)
        assert MARKER.encode() in disk  # the read sees what was written
        assert_no_pan(disk)
        assert len((await (await client.get("/api/sales")).json())["data"]) == 1

    async def test_integer_metadata(self, make_client: MakeClient) -> None:
        """A card number sent as a JSON integer is a card number too."""
        client = await make_client()
        resp = await client.post("/api/sales", json={**CASH, "metadata": {"n": int(PAN)}})
        assert (resp.status, (await resp.json())["error"]["param"]) == (422, "metadata.n")
        assert_no_pan(on_disk(client))

    async def test_long_numbers_that_are_not_cards(self, make_client: MakeClient) -> None:
        """Epoch milliseconds and a Luhn-failing 16-digit number are taken as they are."""
        client = await make_client()
        sale = {**CASH, "metadata": {"at": 1_700_000_000_000, "code": "4111111111111112"}}
        assert (await client.post("/api/sales", json=sale)).status == 201


class TestMaskedFromTheReader:
    """A card reader's answer that holds a card number: the sale is kept (the card is charged), masked."""

    async def test_reader_fields_are_stored_masked(self, make_client: MakeClient,
                                                   caplog: pytest.LogCaptureFixture) -> None:
        """brand and approval code holding the number → 201, masked in the answer, the file and the log."""
        reader = FakeCardReader(CardResult("approved", PAN, "VISA 4111-1111-1111-1111", "1111", "chip"))
        client = await make_client(devices=Devices(card_reader=reader))
        with caplog.at_level(logging.DEBUG):
            resp = await client.post("/api/sales", json={"amount": 700, "payment_method": "card"})
        body = await resp.json()
        assert resp.status == 201 and body["status"] == "succeeded"
        assert body["result"]["approval_code"] == "*" * 12 + "1111"
        assert body["result"]["card_brand"] == "VISA " + "*" * 12 + "1111"
        assert_no_pan(await resp.text())
        assert_no_pan(on_disk(client))
        assert_no_pan(caplog.text)
        assert "approval_code, card_brand" in caplog.text

    async def test_declined_reason_is_masked(self, make_client: MakeClient) -> None:
        """A decline reason with the number is recorded (failed) with the number masked."""
        reader = FakeCardReader(CardResult("declined", None, "visa", "1111", "chip", f"declined {PAN}"))
        client = await make_client(devices=Devices(card_reader=reader))
        resp = await client.post("/api/sales", json={"amount": 700, "payment_method": "card"})
        body = await resp.json()
        assert resp.status == 201 and body["status"] == "failed"
        assert body["result"]["decline_reason"] == "declined " + "*" * 12 + "1111"
        assert_no_pan(on_disk(client))
