"""Z reports uploaded by devices (docs/cloud-api.md#settlements): the stored record, the rules a report
obeys beyond its shape, and the storage port (pure)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from cloud.domain.errors import Conflict, ValidationFailed

CONFLICT = "settlement_conflict"
METHODS = ("cash", "credit_card", "qr")


@dataclass(frozen=True, slots=True)
class Settlement:
    """One device's Z report as it was received, keyed on (device_id, settlement_id)."""

    settlement_id: str
    device_id: str
    partner_id: str
    store_id: str
    store_code: str
    z_number: int
    business_date: str
    received_at: float
    report: Mapping[str, Any]
    digest: str


def canonical(report: Mapping[str, Any]) -> str:
    """The report as canonical JSON (sorted keys, no spaces): what is stored and compared."""
    return json.dumps(report, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest_of(report: Mapping[str, Any]) -> str:
    """hex SHA-256 of the canonical report: the same body again has the same digest."""
    return hashlib.sha256(canonical(report).encode("utf-8")).hexdigest()


def conflict(message: str) -> Conflict:
    """The 409 of a settlement_id re-used with another body, or a z_number already taken."""
    return Conflict(message, code=CONFLICT, param="settlement_id")


def _amount(block: Mapping[str, Any], key: str) -> int:
    value = block.get(key, 0)
    return value if isinstance(value, int) else 0


def check_figures(report: Mapping[str, Any]) -> None:
    """The sums the contract fixes: net_amount = total_amount − refunds.total_amount, cash_expected =
    succeeded cash sales − cash refunds, and the refunds' by-method amounts add up to their total
    (ValidationFailed otherwise)."""
    refunds = report["refunds"]
    by_method = refunds.get("by_method", {})
    cash_sales = _amount(report["payment_method_breakdown"].get("cash", {}), "total_amount")
    if report["cash_expected"] != cash_sales - _amount(by_method.get("cash", {}), "total_amount"):
        raise ValidationFailed("cash_expected must equal the cash sales minus the cash refunds",
                               param="cash_expected")  # fmt: skip
    if report["net_amount"] != report["total_amount"] - refunds["total_amount"]:
        raise ValidationFailed(
            "net_amount must equal total_amount - refunds.total_amount", param="net_amount"
        )
    if sum(_amount(by_method.get(m, {}), "total_amount") for m in METHODS) != refunds["total_amount"]:
        raise ValidationFailed("refunds.by_method amounts must add up to refunds.total_amount",
                               param="refunds.total_amount")  # fmt: skip


class SettlementRepository(Protocol):
    """Stored settlements (the write staged in the unit of work)."""

    async def add(self, settlement: Settlement) -> None:
        """Stage the settlement; Conflict settlement_conflict at commit if its key or z_number is taken."""

    async def get(self, device_id: str, settlement_id: str) -> Settlement | None:
        """The device's settlement, or None."""

    async def of_store(self, store_id: str, limit: int) -> tuple[Sequence[Settlement], bool]:
        """The store's newest settlements first, and whether there are more."""
