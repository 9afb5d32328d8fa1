"""POST/GET /api/sales over a real loopback server and a real SQLite file: methods, bad input, idempotency."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from agent.deps import Devices
from agent.domain.ports import CardResult
from drivers.errors import DeviceDisconnected, DeviceTimeout
from tests.integration.agent.conftest import FakeCardReader, FakePrinter, MakeClient

CASH = {"amount": 1200, "payment_method": "cash", "cash_received": 2000}
APPROVED = {
    "status": "approved",
    "approval_code": "A12345",
    "card_brand": "visa",
    "card_last_4": "4242",
    "entry_method": "chip",
}


def rows(folder: Path, sql: str = "SELECT COUNT(*) FROM sales") -> list[tuple[Any, ...]]:
    """Read the agent's database file directly (a second, independent reader)."""
    with sqlite3.connect(folder / "agent.sqlite3") as conn:
        return list(conn.execute(sql))


class TestCash:
    async def test_change_is_computed_and_sale_stored(self, make_client: MakeClient, tmp_path: Path) -> None:
        """A cash sale returns 201 with change = cash_received - amount, and the row is in the file."""
        client = await make_client()
        resp = await client.post("/api/sales", json={**CASH, "merchant_ref_id": "c-1"})
        body = await resp.json()
        assert resp.status == 201
        assert body["result"] == {"cash_received": 2000, "change": 800}
        assert (body["processing_mode"], body["payment_method_type"], body["currency"]) == (
            "manual",
            "cash",
            "JPY",
        )
        assert rows(tmp_path / "state", "SELECT local_id, seq, hash, status FROM sales") == [
            (body["local_id"], 1, body["hash"], "succeeded")
        ]

    async def test_exact_cash_gives_zero_change(self, make_client: MakeClient) -> None:
        """cash_received equal to the amount is accepted with change 0."""
        client = await make_client()
        resp = await client.post("/api/sales", json={**CASH, "cash_received": 1200})
        assert resp.status == 201 and (await resp.json())["result"]["change"] == 0


class TestCardResultInRequest:
    async def test_approved_is_succeeded(self, make_client: MakeClient) -> None:
        """An approved card_result records a succeeded external card sale with the last 4 digits only."""
        client = await make_client()
        resp = await client.post(
            "/api/sales", json={"amount": 5000, "payment_method": "card", "card_result": APPROVED}
        )
        body = await resp.json()
        assert resp.status == 201 and body["status"] == "succeeded"
        assert (body["processing_mode"], body["payment_method_type"]) == ("external", "card")
        assert body["result"]["card_last_4"] == "4242" and body["result"]["approval_code"] == "A12345"

    async def test_declined_is_recorded_failed(self, make_client: MakeClient, tmp_path: Path) -> None:
        """A declined card_result is still recorded (status failed) so the chain covers it."""
        client = await make_client()
        resp = await client.post(
            "/api/sales",
            json={
                "amount": 5000,
                "payment_method": "card",
                "card_result": {"status": "declined", "decline_reason": "insufficient funds"},
            },
        )
        body = await resp.json()
        assert resp.status == 201 and body["status"] == "failed"
        assert body["result"]["decline_reason"] == "insufficient funds"
        assert rows(tmp_path / "state", "SELECT status FROM sales") == [("failed",)]

    async def test_no_result_and_no_reader_is_422(self, make_client: MakeClient) -> None:
        """Without a reader, a card sale must carry card_result."""
        client = await make_client()
        resp = await client.post("/api/sales", json={"amount": 5000, "payment_method": "card"})
        assert resp.status == 422 and (await resp.json())["error"]["code"] == "card_result_required"


class TestCardReader:
    async def test_reader_drives_the_sale(self, make_client: MakeClient) -> None:
        """With a reader wired, the agent asks it for amount/currency/reference and records its answer."""
        reader = FakeCardReader(CardResult("approved", "OK1", "jcb", "3530", "contactless"))
        client = await make_client(devices=Devices(card_reader=reader))
        resp = await client.post(
            "/api/sales", json={"amount": 800, "payment_method": "card", "merchant_ref_id": "r-1"}
        )
        body = await resp.json()
        assert resp.status == 201 and body["result"]["card_brand"] == "jcb"
        assert reader.calls == [(800, "JPY", "r-1")]

    async def test_retry_does_not_charge_twice(self, make_client: MakeClient) -> None:
        """The same merchant_ref_id again returns the recorded sale without touching the reader."""
        reader = FakeCardReader(CardResult("approved", "OK1", "visa", "1111", "chip"))
        client = await make_client(devices=Devices(card_reader=reader))
        first = await (
            await client.post(
                "/api/sales", json={"amount": 800, "payment_method": "card", "merchant_ref_id": "r-2"}
            )
        ).json()
        resp = await client.post(
            "/api/sales", json={"amount": 800, "payment_method": "card", "merchant_ref_id": "r-2"}
        )
        assert resp.status == 200 and (await resp.json())["local_id"] == first["local_id"]
        assert len(reader.calls) == 1

    async def test_reader_fault_records_nothing(self, make_client: MakeClient, tmp_path: Path) -> None:
        """A reader error answers 503 card_reader_error and stores no sale."""
        client = await make_client(devices=Devices(card_reader=FakeCardReader(TimeoutError("no answer"))))
        resp = await client.post("/api/sales", json={"amount": 800, "payment_method": "card"})
        assert resp.status == 503 and (await resp.json())["error"]["code"] == "card_reader_error"
        assert rows(tmp_path / "state") == [(0,)]

    async def test_caps_checked_before_the_card_is_charged(self, make_client: MakeClient) -> None:
        """Past the stored-count cap the reader is never asked to charge the card."""
        reader = FakeCardReader(CardResult("approved", "OK1", "visa", "1111", "chip"))
        client = await make_client({"offline": {"max_count": 1}}, devices=Devices(card_reader=reader))
        assert (await client.post("/api/sales", json=CASH)).status == 201
        resp = await client.post("/api/sales", json={"amount": 800, "payment_method": "card"})
        assert resp.status == 429 and reader.calls == []


class TestPrinter:
    async def test_receipt_printed_after_commit(self, make_client: MakeClient) -> None:
        """A succeeded sale is handed to the printer with its seq, total, change and lines."""
        printer = FakePrinter()
        client = await make_client(devices=Devices(printer=printer))
        resp = await client.post(
            "/api/sales",
            json={**CASH, "tax": 109, "lines": [{"name": "コーヒー", "quantity": 2, "amount": 600}]},
        )
        body = await resp.json()
        assert resp.status == 201 and body["print"] == {"status": "queued", "job_id": "job-1"}
        (receipt,) = printer.receipts
        assert (receipt.receipt_id, receipt.receipt_number, receipt.total, receipt.change, receipt.tax) == (
            body["local_id"],
            body["seq"],
            1200,
            800,
            109,
        )
        assert receipt.lines[0].name == "コーヒー" and receipt.store_name == "Test Store"

    async def test_print_failure_never_fails_the_sale(self, make_client: MakeClient, tmp_path: Path) -> None:
        """A printer error is reported in `print`; the sale is still 201 and stored."""
        client = await make_client(devices=Devices(printer=FakePrinter(fail=OSError("paper out"))))
        resp = await client.post("/api/sales", json=CASH)
        body = await resp.json()
        assert resp.status == 201 and body["print"] == {"status": "failed", "error": "OSError"}
        assert rows(tmp_path / "state") == [(1,)]


BAD_INPUT: list[tuple[str, dict[str, Any], int, str | None]] = [
    ("zero amount", {**CASH, "amount": 0}, 422, "amount"),
    ("negative amount", {**CASH, "amount": -5}, 422, "amount"),
    ("amount as string", {**CASH, "amount": "1200"}, 422, "amount"),
    ("fractional amount", {**CASH, "amount": 12.5}, 422, "amount"),
    ("amount missing", {"payment_method": "cash", "cash_received": 100}, 422, "amount"),
    ("unknown method", {**CASH, "payment_method": "bitcoin"}, 422, "payment_method"),
    ("method missing", {"amount": 100, "cash_received": 100}, 422, "payment_method"),
    ("lower-case currency", {**CASH, "currency": "jpy"}, 422, "currency"),
    ("unsupported currency", {**CASH, "currency": "EUR"}, 422, "currency"),
    ("unknown field", {**CASH, "tip": 100}, 422, "tip"),
    ("bad reference", {**CASH, "merchant_ref_id": "a b<script>"}, 422, "merchant_ref_id"),
    ("long reference", {**CASH, "merchant_ref_id": "x" * 65}, 422, "merchant_ref_id"),
    ("cash without cash_received", {"amount": 100, "payment_method": "cash"}, 422, "cash_received"),
    ("cash short", {**CASH, "cash_received": 1000}, 422, "cash_received"),
    (
        "cash_received on card",
        {"amount": 100, "payment_method": "card", "cash_received": 100, "card_result": APPROVED},
        422,
        "cash_received",
    ),
    ("card_result on cash", {**CASH, "card_result": APPROVED}, 422, "card_result"),
    (
        "five card digits",
        {"amount": 100, "payment_method": "card", "card_result": {**APPROVED, "card_last_4": "42424"}},
        422,
        "card_result.card_last_4",
    ),
    (
        "approved without code",
        {"amount": 100, "payment_method": "card", "card_result": {"status": "approved"}},
        422,
        "card_result",
    ),
    (
        "unknown card status",
        {"amount": 100, "payment_method": "card", "card_result": {"status": "maybe"}},
        422,
        "card_result.status",
    ),
    ("too many metadata keys", {**CASH, "metadata": {f"k{i}": "v" for i in range(21)}}, 422, "metadata"),
    ("float metadata", {**CASH, "metadata": {"k": 1.5}}, 422, "metadata.k.str"),
    ("negative line", {**CASH, "lines": [{"name": "x", "amount": -1}]}, 422, "lines.0.amount"),
]


class TestBadInput:
    @pytest.mark.parametrize(("case", "body", "status", "param"), BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
    async def test_refused_with_json_error(  # noqa: PLR0917 -- parametrized cases
        self,
        make_client: MakeClient,
        tmp_path: Path,
        case: str,
        body: dict[str, Any],
        status: int,
        param: str | None,
    ) -> None:
        """Each bad field gets a docs/cloud-api.md error naming it, and nothing is stored."""
        client = await make_client()
        resp = await client.post("/api/sales", json=body)
        err = (await resp.json())["error"]
        assert resp.status == status, case
        assert err["param"] == param and err["message"] and err["type"] == "invalid_request_error"
        assert rows(tmp_path / "state") == [(0,)]

    @pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"", "¥".encode("shift_jis")])
    async def test_malformed_body_is_400(self, make_client: MakeClient, raw: bytes) -> None:
        """A body that is not a JSON object answers 400 invalid_json, never 500."""
        client = await make_client()
        resp = await client.post("/api/sales", data=raw, headers={"Content-Type": "application/json"})
        assert resp.status == 400 and (await resp.json())["error"]["code"] == "invalid_json"

    async def test_huge_body_is_413(self, make_client: MakeClient) -> None:
        """A body over 64 KiB is refused with a JSON 413."""
        client = await make_client()
        resp = await client.post("/api/sales", data=b"{" + b" " * 70_000 + b"}",
                                 headers={"Content-Type": "application/json"})
        assert resp.status == 413 and "error" in await resp.json()


class TestIdempotency:
    async def test_same_reference_returns_the_same_sale(
        self, make_client: MakeClient, tmp_path: Path
    ) -> None:
        """A retried POST with the same merchant_ref_id answers 200 with the first sale; one row only."""
        client = await make_client()
        first = await client.post("/api/sales", json={**CASH, "merchant_ref_id": "dup-1"})
        again = await client.post("/api/sales", json={**CASH, "merchant_ref_id": "dup-1"})
        assert (first.status, again.status) == (201, 200)
        assert (await first.json())["local_id"] == (await again.json())["local_id"]
        assert rows(tmp_path / "state") == [(1,)]

    async def test_concurrent_duplicates_make_one_sale(self, make_client: MakeClient, tmp_path: Path) -> None:
        """Ten concurrent POSTs with one reference: one 201, nine 200, all the same local_id."""
        client = await make_client()
        resps = await asyncio.gather(
            *(client.post("/api/sales", json={**CASH, "merchant_ref_id": "dup-2"}) for _ in range(10))
        )
        assert sorted(r.status for r in resps) == [200] * 9 + [201]
        assert len({(await r.json())["local_id"] for r in resps}) == 1
        assert rows(tmp_path / "state") == [(1,)]

    async def test_reference_reused_for_another_amount_is_409(self, make_client: MakeClient) -> None:
        """The same reference with a different amount is a conflict, not a replay."""
        client = await make_client()
        await client.post("/api/sales", json={**CASH, "merchant_ref_id": "dup-3"})
        resp = await client.post("/api/sales", json={**CASH, "amount": 1300, "merchant_ref_id": "dup-3"})
        assert resp.status == 409 and (await resp.json())["error"]["code"] == "merchant_ref_id_reused"


class TestRead:
    async def test_get_one_and_unknown(self, make_client: MakeClient) -> None:
        """GET /api/sales/{local_id} returns the sale; an unknown id is a JSON 404."""
        client = await make_client()
        sale = await (await client.post("/api/sales", json=CASH)).json()
        got = await client.get(f"/api/sales/{sale['local_id']}")
        assert got.status == 200 and await got.json() == {k: v for k, v in sale.items() if k != "print"}
        missing = await client.get("/api/sales/0190-nope")
        assert missing.status == 404 and (await missing.json())["error"]["code"] == "resource_missing"

    async def test_list_filters_and_pages(self, make_client: MakeClient) -> None:
        """Newest first; payment_method/status filters; starting_after pages through without overlap."""
        client = await make_client()
        for i in range(5):
            await client.post("/api/sales", json={**CASH, "merchant_ref_id": f"l-{i}"})
        await client.post(
            "/api/sales", json={"amount": 10, "payment_method": "card", "card_result": {"status": "declined"}}
        )
        page1 = await (await client.get("/api/sales?limit=2&payment_method=cash")).json()
        assert [s["merchant_ref_id"] for s in page1["data"]] == ["l-4", "l-3"] and page1["has_more"]
        cursor = page1["data"][-1]["local_id"]
        page2 = await (
            await client.get(f"/api/sales?limit=10&payment_method=cash&starting_after={cursor}")
        ).json()
        assert [s["merchant_ref_id"] for s in page2["data"]] == ["l-2", "l-1", "l-0"] and not page2[
            "has_more"
        ]
        failed = await (await client.get("/api/sales?status=failed")).json()
        assert [s["payment_method"] for s in failed["data"]] == ["card"]

    @pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=abc", "sync_state=lost", "colour=red"])
    async def test_bad_query_is_422(self, make_client: MakeClient, query: str) -> None:
        """Out-of-range or unknown list parameters answer a JSON 422."""
        client = await make_client()
        resp = await client.get(f"/api/sales?{query}")
        assert resp.status == 422 and "error" in await resp.json()

    async def test_unknown_cursor_is_400(self, make_client: MakeClient) -> None:
        """starting_after that names no sale answers 400."""
        client = await make_client()
        resp = await client.get("/api/sales?starting_after=nope")
        assert resp.status == 400 and (await resp.json())["error"]["param"] == "starting_after"


class TestCardReaderFaults:
    async def test_outcome_unknown_tells_the_cashier_to_check(
        self, make_client: MakeClient, tmp_path: Path
    ) -> None:
        """A fault after the reader accepted the card says it may have been charged; nothing is recorded."""
        fault = DeviceDisconnected("link lost mid-sale")
        fault.outcome_unknown = True
        client = await make_client(devices=Devices(card_reader=FakeCardReader(fault)))
        resp = await client.post("/api/sales", json={"amount": 800, "payment_method": "card"})
        err = (await resp.json())["error"]
        assert resp.status == 503 and err["code"] == "card_outcome_unknown"
        assert "may have been charged" in err["message"]
        assert rows(tmp_path / "state") == [(0,)]

    async def test_driver_message_is_passed_on(self, make_client: MakeClient) -> None:
        """A reader timeout carries the driver's cashier message."""
        client = await make_client(devices=Devices(card_reader=FakeCardReader(DeviceTimeout("no answer"))))
        resp = await client.post("/api/sales", json={"amount": 800, "payment_method": "card"})
        err = (await resp.json())["error"]
        assert err["code"] == "card_reader_error" and DeviceTimeout.cashier_message in err["message"]

    async def test_reference_of_another_sale_never_reaches_the_reader(self, make_client: MakeClient) -> None:
        """A reference already used by a cash sale is refused (409) before the card is charged."""
        reader = FakeCardReader(CardResult("approved", "OK1", "visa", "1111", "chip"))
        client = await make_client(devices=Devices(card_reader=reader))
        await client.post("/api/sales", json={**CASH, "merchant_ref_id": "taken"})
        resp = await client.post("/api/sales", json={"amount": 1200, "payment_method": "card",
                                                     "merchant_ref_id": "taken"})
        assert resp.status == 409 and reader.calls == []


class TestOpenApi:
    async def test_document_describes_the_sale_body(self, make_client: MakeClient) -> None:
        """GET /api/openapi.json carries the CreateSale schema with its required fields and limits."""
        client = await make_client()
        doc = await (await client.get("/api/openapi.json")).json()
        schema = doc["components"]["schemas"]["CreateSale"]
        assert doc["openapi"] == "3.1.0" and set(schema["required"]) == {"amount", "payment_method"}
        assert schema["properties"]["amount"]["exclusiveMinimum"] == 0
        assert "CardResultIn" in doc["components"]["schemas"]

    async def test_document_lists_the_refusals_of_posts(self, make_client: MakeClient) -> None:
        """The answers the middleware and the body reader give before a handler runs are documented."""
        client = await make_client()
        doc = await (await client.get("/api/openapi.json")).json()
        for path in ("/api/sales", "/api/sales/{local_id}/cancel"):
            answers = doc["paths"][path]["post"]["responses"]
            assert {"400", "403", "413", "415", "422"} <= set(answers), path
            assert "cross_origin_refused" in answers["403"]["description"]
            assert "json_too_deep" in answers["400"]["description"]
