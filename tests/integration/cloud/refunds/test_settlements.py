"""POST/GET /v1/settlements on a real server, SQLite and PostgreSQL: a device's Z report stored once, its
figures checked, conflicts refused with nothing written, and a partner's store listing newest first."""

from __future__ import annotations

import copy
from typing import Any

from ulid import ULID

from cloud.testing import PgwClient, Tenant, db_snapshot

from ..conftest import Pgw
from ..helpers import rows
from ..sync.helpers import DeviceKeys, device_client

PATH = "/v1/settlements"


def report(device_id: str, z_number: int = 1, **changes: Any) -> dict[str, Any]:
    """A Z report as docs/settlement.md stores it, with a refunds block whose figures add up."""
    block = {"transaction_count": 0, "total_amount": 0}
    body: dict[str, Any] = {
        "object": "settlement", "type": "z", "settlement_id": f"st_{ULID()}", "z_number": z_number,
        "business_date": f"2025-11-{z_number:02d}", "serial": "DEV-0001", "device_id": device_id,
        "store_name": "MPAC Store", "start_time": 1764028860000, "end_time": 1764061200000,
        "status": "closed", "currency": "JPY",
        "payment_method_breakdown": {
            "cash": {"transaction_count": 3, "total_amount": 2530},
            "credit_card": {"transaction_count": 3, "total_amount": 6200,
                            "by_brand": {"VISA": {"transaction_count": 3, "total_amount": 6200}}},
            "qr": {**block, "by_method": {}}},
        "total_transactions": 6, "total_amount": 8730,
        "refunds": {"transaction_count": 2, "total_amount": 800,
                    "by_method": {"cash": {"transaction_count": 1, "total_amount": 300},
                                  "credit_card": {"transaction_count": 1, "total_amount": 500}, "qr": block}},
        "net_amount": 7930, "cash_expected": 2230, "cash_actual": 2200, "cash_discrepancy": -30,
        "failed_transactions": 1, "other_currencies": {}, "signed_by": "store_manager",
        "signed_at": 1764061200000,
    }  # fmt: skip
    return {**body, **changes}


class TestUpload:
    async def test_stored_once(self, pgw: Pgw, dev: PgwClient, device: DeviceKeys, tenant: Tenant) -> None:
        """201 the stored object with the report as sent; the same body again is 200 and the same object."""
        body = report(device.device_id)
        first = await dev.post(PATH, body)
        assert first.status == 201, first.body
        expected = {"object": "settlement", "id": body["settlement_id"],
                    "merchant_store_id": tenant.store_code, "device_id": device.device_id, "z_number": 1,
                    "business_date": "2025-11-01", "report": body}  # fmt: skip
        assert {k: v for k, v in first.body.items() if k != "received"} == expected
        pgw.clock.advance(1)  # a re-send is signed anew: the same signature again is a replay
        again = await dev.post(PATH, body)
        assert (again.status, again.body) == (200, first.body)
        assert rows(pgw.db_path, "SELECT count(*) FROM settlements") == [(1,)]

    async def test_conflicts_and_bad_reports_write_nothing(self, pgw: Pgw, dev: PgwClient, device: DeviceKeys,
                                                           client: PgwClient) -> None:  # fmt: skip
        """Another body under the settlement_id or the z_number is 409 settlement_conflict; bad figures, a
        foreign device_id, a partner key and malformed reports are refused; none of them writes anything."""
        body = report(device.device_id)
        assert (await dev.post(PATH, body)).status == 201
        before = db_snapshot(pgw.db_path)
        changed = {**body, "cash_actual": 2100, "cash_discrepancy": -130}
        deep: dict[str, Any] = {"x": 1}
        for _ in range(40):
            deep = {"x": deep}
        bad_refunds = copy.deepcopy(body)
        bad_refunds["refunds"]["by_method"]["cash"]["total_amount"] = 299
        cases = [
            (dev, changed, 409, "settlement_conflict"),
            (dev, report(device.device_id, 1, settlement_id=f"st_{ULID()}"), 409, "settlement_conflict"),
            (dev, report(device.device_id, 2, net_amount=1), 422, None),
            (dev, report(device.device_id, 2, cash_expected=2530), 422, None),
            (dev, {**bad_refunds, "settlement_id": f"st_{ULID()}", "z_number": 3}, 422, None),
            (dev, report("dev_other", 2), 403, "device_mismatch"),
            (dev, report(device.device_id, 2, type="x"), 422, None),
            (dev, report(device.device_id, 2, settlement_id="st_nope"), 422, None),
            (dev, report(device.device_id, 2, total_amount=-1), 422, None),
            (dev, {**report(device.device_id, 2), "z_number": "2"}, 422, None),
            (dev, report(device.device_id, 2, extra=deep), 400, "nesting_too_deep"),
            (dev, report(device.device_id, 2, pad="x" * 70000), 413, "body_too_large"),
            (client, report(device.device_id, 2), 403, "device_credential_required"),
        ]
        for who, sent, status, code in cases:
            resp = await who.post(PATH, sent)
            assert resp.status == status, (status, resp.body)
            assert code is None or resp.body["error"]["code"] == code, resp.body
        assert db_snapshot(pgw.db_path) == before


class TestList:
    async def test_newest_first_with_limit(self, pgw: Pgw, device: DeviceKeys, tenant: Tenant,
                                           other_tenant: Tenant) -> None:  # fmt: skip
        """The partner lists its store's settlements newest first, limit and has_more; another partner's store
        of the same code shows none of them; a bad limit is 400."""
        dev, client, sent = device_client(pgw, device), pgw.client(tenant), []
        for z in (1, 2, 3):
            sent.append(report(device.device_id, z))
            assert (await dev.post(PATH, sent[-1])).status == 201
            pgw.clock.advance(1)
        page = await client.get(f"{PATH}?merchant_store_id={tenant.store_code}&limit=2")
        assert page.status == 200, page.body
        assert [s["z_number"] for s in page.body["data"]] == [3, 2] and page.body["has_more"] is True
        full = await client.get(f"{PATH}?merchant_store_id={tenant.store_code}")
        assert [s["id"] for s in full.body["data"]] == [s["settlement_id"] for s in reversed(sent)]
        assert full.body["has_more"] is False and full.body["object"] == "list"
        other = await pgw.client(other_tenant).get(f"{PATH}?merchant_store_id={tenant.store_code}")
        assert (other.status, other.body["data"]) == (200, [])
        for query in ("limit=0", "limit=101", "limit=x", ""):
            bad = await client.get(f"{PATH}?merchant_store_id={tenant.store_code}&{query}" if query else PATH)
            assert bad.status == 400, (query, bad.body)
        missing = await client.get(f"{PATH}?merchant_store_id=nope")
        assert missing.status == 404
