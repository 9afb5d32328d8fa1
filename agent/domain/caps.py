"""Offline caps (docs/sync-protocol.md; pure): checked against what is stored and not yet acknowledged."""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.domain.errors import SaleRefused
from agent.domain.money import format_money
from agent.settings import OfflineSection

RETRY_AFTER_S = 60


@dataclass(slots=True)
class PendingState:
    """Sales stored and not yet acknowledged: count, succeeded amount per currency, oldest created_at."""

    count: int = 0
    amounts: dict[str, int] = field(default_factory=dict)
    oldest_ms: int | None = None

    def add(self, amount: int, currency: str, created_at: int, counts_amount: bool) -> None:
        """Account for one more stored sale."""
        self.count += 1
        if counts_amount:
            self.amounts[currency] = self.amounts.get(currency, 0) + amount
        if self.oldest_ms is None:
            self.oldest_ms = created_at


def check_sale_amount(amount: int, currency: str, caps: OfflineSection) -> None:
    """One sale may not exceed the per-sale cap (422)."""
    if amount > caps.max_sale_amount:
        limit = format_money(caps.max_sale_amount, currency)
        raise SaleRefused(
            "offline_sale_limit",
            f"This sale is over the limit of {limit} per sale that this terminal can store before "
            "the cloud confirms it. Take a smaller amount, or split the payment.",
            param="amount",
        )


def check_pending(amount: int, currency: str, state: PendingState, caps: OfflineSection, now_ms: int) -> None:
    """Refuse (429) when storing one more sale would pass the stored count, stored total or oldest-age cap."""
    if state.oldest_ms is not None and now_ms - state.oldest_ms > caps.max_age_ms:
        hours = f"{caps.max_age_hours:g}"
        raise _busy("offline_age_limit", f"Sales have waited more than {hours} hours to reach the cloud. "
                    "Connect the terminal to the network before taking more card or cash sales.")
    if state.count + 1 > caps.max_count:
        raise _busy("offline_count_limit", f"This terminal already holds {state.count} sales that have not "
                    f"reached the cloud (limit {caps.max_count}). Connect to the network to send them first.")
    total = state.amounts.get(currency, 0) + amount
    if total > caps.max_total_amount:
        held = format_money(state.amounts.get(currency, 0), currency)
        limit = format_money(caps.max_total_amount, currency)
        raise _busy("offline_total_limit", f"This terminal already holds {held} of sales that have not "
                    f"reached the cloud; this sale would pass the limit of {limit}. "
                    "Connect to the network first.")


def _busy(code: str, message: str) -> SaleRefused:
    return SaleRefused(code, message, status=429, retry_after=RETRY_AFTER_S)
