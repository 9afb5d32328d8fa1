"""Itemised refunds of a QR sale against the REAL cloud process: the cloud gets the amount of the returned
lines, the terminal keeps the lines, and racing returns of a sale's last pieces cannot pass what was sold
(the cloud knows amounts only, so the terminal decides a sale's online refunds one at a time)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from agent.domain.refund import RefundRefused, ReturnedLine
from agent.entrypoints.api.keys import DEPS
from tests.integration.agent.services.qr_sales.conftest import RealCloud, StartAgent
from tests.integration.agent.services.qr_sales.test_qr_refund import PIN, _agent
from tests.integration.agent.test_invoice_receipt import SALE


async def _refund(client: TestClient[Any, Any], local_id: str, **body: Any) -> tuple[int, dict[str, Any]]:
    resp = await client.post(f"/api/sales/{local_id}/refunds", json={"password": PIN, **body})
    return resp.status, await resp.json()


def _stored(tmp_path: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(tmp_path / "state" / "agent.sqlite3") as conn:
        return list(conn.execute("SELECT amount, items_json FROM refunds ORDER BY created_at, local_id"))


class TestQrItemisedRefunds:
    async def test_racing_returns_of_a_line_are_decided_one_at_a_time(
        self, real_cloud: RealCloud, start_agent: StartAgent, tmp_path: Path
    ) -> None:
        """Three parallel returns of one rice ball (two sold) of a CPM sale: two are refunded on the cloud
        (¥300 in all), the third is 409 with nothing written; a retry of a taken one is 200."""
        client = await _agent(real_cloud, start_agent, tmp_path)
        body = {**SALE, "payment_method": "qr_cpm", "merchant_ref_id": "cpm-i1", "customer_code": "2849AB77"}
        body.pop("cash_received")
        sale = await (await client.post("/api/sales", json=body)).json()
        assert sale["status"] == "succeeded", sale
        # Straight to the service, all at once: through HTTP the PIN check already spaces them out.
        service = client.app[DEPS].refunds
        assert service is not None
        one = (ReturnedLine(0, 1),)
        outcomes = await asyncio.gather(
            *(service.refund(sale["local_id"], None, None, f"QR-R-{n}", one) for n in range(3)),
            return_exceptions=True,
        )
        refused = [o for o in outcomes if isinstance(o, RefundRefused)]
        assert [r.code for r in refused] == ["refund_exceeds_sold"], outcomes
        results = [o for o in outcomes if isinstance(o, tuple)]
        assert [created for _b, created in results] == [True, True]
        assert (await real_cloud.intent(sale["cloud_intent_id"]))["amount_refunded"] == 300
        stored = _stored(tmp_path)
        assert [amount for amount, _i in stored] == [150, 150]
        assert all(json.loads(items)[0]["quantity"] == 1 for _a, items in stored)
        taken = results[0][0]
        status, again = await _refund(
            client,
            sale["local_id"],
            items=[{"line": 0, "quantity": 1}],
            merchant_refund_id=taken["merchant_refund_id"],
        )
        assert (status, again["local_id"]) == (200, taken["local_id"])
        assert len(_stored(tmp_path)) == 2
