"""Offline caps (docs/sync-protocol.md) and GET /api/status over the real app and a real SQLite file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.integration.agent.conftest import MakeClient

HOUR_MS = 3_600_000


def cash(amount: int, ref: str | None = None) -> dict[str, object]:
    """A cash sale body paid exactly."""
    body: dict[str, object] = {"amount": amount, "payment_method": "cash", "cash_received": amount}
    if ref:
        body["merchant_ref_id"] = ref
    return body


def mark(folder: Path, state: str, synced_at: int | None = None) -> None:
    """Move every pending sale to `state` from another connection, as the uploader does."""
    with sqlite3.connect(folder / "agent.sqlite3") as conn:
        conn.execute(
            "UPDATE sales SET sync_state = ?, synced_at = ? WHERE sync_state IN ('queued', 'sending')",
            (state, synced_at),
        )


class Clock:
    """A settable millisecond clock."""

    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


class TestCaps:
    async def test_per_sale_cap_is_422(self, make_client: MakeClient) -> None:
        """One yen over the per-sale cap is refused with a cashier message naming the limit."""
        client = await make_client()
        assert (await client.post("/api/sales", json=cash(50_000))).status == 201
        resp = await client.post("/api/sales", json=cash(50_001))
        err = (await resp.json())["error"]
        assert resp.status == 422 and err["code"] == "offline_sale_limit" and err["param"] == "amount"
        assert "¥50,000" in err["message"]

    async def test_stored_total_cap_is_429(self, make_client: MakeClient) -> None:
        """The sale that would lift the stored total past the cap is refused; one that fits is taken."""
        client = await make_client({"offline": {"max_total_amount": 10_000}})
        assert (await client.post("/api/sales", json=cash(6_000))).status == 201
        resp = await client.post("/api/sales", json=cash(4_001))
        err = (await resp.json())["error"]
        assert resp.status == 429 and err["code"] == "offline_total_limit" and resp.headers["Retry-After"]
        assert "¥6,000" in err["message"] and "¥10,000" in err["message"]
        assert (await client.post("/api/sales", json=cash(4_000))).status == 201

    async def test_total_cap_is_per_currency(self, make_client: MakeClient) -> None:
        """Yen already stored do not count against a dollar sale."""
        client = await make_client({"offline": {"max_total_amount": 10_000}})
        assert (await client.post("/api/sales", json=cash(10_000))).status == 201
        resp = await client.post("/api/sales", json={**cash(9_000), "currency": "USD"})
        assert resp.status == 201

    async def test_stored_count_cap_is_429(self, make_client: MakeClient) -> None:
        """The (max_count + 1)th unsynced sale is refused."""
        client = await make_client({"offline": {"max_count": 3}})
        for i in range(3):
            assert (await client.post("/api/sales", json=cash(100, f"n-{i}"))).status == 201
        resp = await client.post("/api/sales", json=cash(100))
        assert resp.status == 429 and (await resp.json())["error"]["code"] == "offline_count_limit"

    async def test_oldest_age_cap_is_429(self, make_client: MakeClient) -> None:
        """Once the oldest unsynced sale is older than the max age, new sales are refused."""
        clock = Clock(1_800_000_000_000)
        client = await make_client({"offline": {"max_age_hours": 2}}, clock_ms=clock)
        assert (await client.post("/api/sales", json=cash(100))).status == 201
        clock.now += 2 * HOUR_MS
        assert (await client.post("/api/sales", json=cash(100))).status == 201  # exactly at the limit
        clock.now += 1
        resp = await client.post("/api/sales", json=cash(100))
        err = (await resp.json())["error"]
        assert resp.status == 429 and err["code"] == "offline_age_limit" and "2 hours" in err["message"]

    async def test_acked_sales_free_the_caps(self, make_client: MakeClient, tmp_path: Path) -> None:
        """Sales the cloud acknowledged no longer count: after the uploader acks them, sales go through."""
        client = await make_client({"offline": {"max_count": 2}})
        for i in range(2):
            await client.post("/api/sales", json=cash(100, f"a-{i}"))
        assert (await client.post("/api/sales", json=cash(100))).status == 429
        mark(tmp_path / "state", "acked", 1_800_000_000_000)
        assert (await client.post("/api/sales", json=cash(100))).status == 201

    async def test_declined_card_counts_but_adds_no_amount(self, make_client: MakeClient) -> None:
        """A failed card sale takes a place in the count but not in the stored total."""
        client = await make_client({"offline": {"max_total_amount": 1_000}})
        resp = await client.post(
            "/api/sales",
            json={"amount": 900, "payment_method": "card", "card_result": {"status": "declined"}},
        )
        assert resp.status == 201
        assert (await client.post("/api/sales", json=cash(1_000))).status == 201


class TestStatus:
    async def test_queue_and_caps_usage(self, make_client: MakeClient, tmp_path: Path) -> None:
        """Depth, pending amount per currency, oldest age and caps usage follow the stored sales."""
        clock = Clock(1_800_000_000_000)
        client = await make_client(clock_ms=clock)
        await client.post("/api/sales", json=cash(1_000))
        clock.now += 60_000
        await client.post("/api/sales", json={**cash(250), "currency": "USD"})
        clock.now += 30_000
        info = await (await client.get("/api/status")).json()
        assert info["queue"]["depth"] == 2
        assert info["queue"]["pending_amount"] == {"JPY": 1_000, "USD": 250}
        assert info["queue"]["oldest_pending_age_s"] == 90.0
        assert info["caps"]["count"] == {"used": 2, "limit": 1000}
        assert info["caps"]["total"]["JPY"] == {"used": 1_000, "limit": 500_000}
        assert info["last_sync_at"] is None and info["store"]["writable"] is True

    async def test_last_sync_and_states(self, make_client: MakeClient, tmp_path: Path) -> None:
        """After the uploader acks, the queue is empty and last_sync_at is the ack time."""
        client = await make_client()
        await client.post("/api/sales", json=cash(1_000))
        mark(tmp_path / "state", "acked", 1_800_000_123_000)
        info = await (await client.get("/api/status")).json()
        assert info["queue"]["depth"] == 0 and info["queue"]["pending_amount"] == {"JPY": 0}
        assert info["queue"]["by_sync_state"]["acked"] == 1 and info["last_sync_at"] == 1_800_000_123_000
