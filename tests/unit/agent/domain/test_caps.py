"""Offline caps as pure functions: each cap at and just past its limit."""

from __future__ import annotations

import pytest

from agent.domain.caps import PendingState, check_pending, check_sale_amount
from agent.domain.errors import SaleRefused
from agent.settings import OfflineSection

CAPS = OfflineSection(max_sale_amount=50_000, max_total_amount=500_000, max_count=1_000, max_age_hours=24)
NOW = 1_800_000_000_000


class TestCaps:
    def test_per_sale_limit(self) -> None:
        """50,000 passes, 50,001 is refused with status 422 and the formatted limit."""
        check_sale_amount(50_000, "JPY", CAPS)
        with pytest.raises(SaleRefused) as caught:
            check_sale_amount(50_001, "JPY", CAPS)
        assert caught.value.status == 422 and "¥50,000" in caught.value.message

    def test_total_limit(self) -> None:
        """The stored total may reach the cap but not pass it (429)."""
        state = PendingState(count=1, amounts={"JPY": 499_000}, oldest_ms=NOW)
        check_pending(1_000, "JPY", state, CAPS, NOW)
        with pytest.raises(SaleRefused) as caught:
            check_pending(1_001, "JPY", state, CAPS, NOW)
        assert (caught.value.status, caught.value.code, caught.value.retry_after) == (
            429,
            "offline_total_limit",
            60,
        )

    def test_count_limit(self) -> None:
        """The 1,000th stored sale passes, the 1,001st is refused."""
        check_pending(1, "JPY", PendingState(count=999, oldest_ms=NOW), CAPS, NOW)
        with pytest.raises(SaleRefused, match="1000"):
            check_pending(1, "JPY", PendingState(count=1_000, oldest_ms=NOW), CAPS, NOW)

    def test_age_limit(self) -> None:
        """The oldest unsynced sale may be exactly 24 h old; one millisecond more refuses."""
        day = 24 * 3_600_000
        check_pending(1, "JPY", PendingState(count=1, oldest_ms=NOW - day), CAPS, NOW)
        with pytest.raises(SaleRefused) as caught:
            check_pending(1, "JPY", PendingState(count=1, oldest_ms=NOW - day - 1), CAPS, NOW)
        assert caught.value.code == "offline_age_limit"

    def test_pending_state_add(self) -> None:
        """add() counts every sale but only succeeded amounts, and keeps the first created_at as oldest."""
        state = PendingState()
        state.add(100, "JPY", NOW, counts_amount=True)
        state.add(500, "JPY", NOW + 5, counts_amount=False)
        assert (state.count, state.amounts, state.oldest_ms) == (2, {"JPY": 100}, NOW)
