"""End-of-day settlement figures (docs/settlement.md): pure, no I/O.

The X report (any time) and the Z report (closes the business day) count the same thing: every sale of the
open business day — taken since the last Z report — in a final state, and its refunds. Sums hold succeeded
sales only, in the store's main currency; refunds are a block of their own (`net_amount` = sales − refunds);
cash expected is the cash sales minus the cash refunds; the discrepancy is counted minus expected (negative:
cash missing), as MPAC's transaction matching names them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Literal

from agent.domain.errors import AgentError
from agent.domain.money import format_money
from drivers.escpos.receipt import Slip

ReportType = Literal["x", "z"]
# payment_method → MPAC's breakdown group (docs/settlement.md)
GROUP = {"cash": "cash", "card": "credit_card", "qr_mpm": "qr", "qr_cpm": "qr"}
MAX_CASH = 10**10


class SettlementRefused(AgentError):
    """A Z report not taken: the day is already closed (409) or the input is wrong (422)."""

    status = 422


@dataclass(frozen=True, slots=True)
class Takings:
    """One sale as a settlement counts it."""

    method: str  # cash | card | qr_mpm | qr_cpm
    status: str  # succeeded | failed | cancelled, or "refund" for a refund of a sale
    currency: str
    amount: int
    detail: str | None = None  # card brand or QR method, for the breakdown


def _bucket() -> dict[str, Any]:
    return {"transaction_count": 0, "total_amount": 0}


def figures(sales: Iterable[Takings], currency: str) -> dict[str, Any]:
    """Counts and sums per method (and card brand / QR method), cash expected, failed and other currencies."""
    breakdown = {group: _bucket() for group in ("cash", "credit_card", "qr")}
    details: dict[str, dict[str, dict[str, Any]]] = {"credit_card": {}, "qr": {}}
    other: dict[str, dict[str, Any]] = {}
    failed = 0
    refunds = {group: _bucket() for group in ("cash", "credit_card", "qr")}
    for sale in sales:
        if sale.status == "refund":
            if sale.currency == currency:  # a refund in another currency stays out of the figures
                _add(refunds[GROUP[sale.method]], sale.amount)
            continue
        if sale.status != "succeeded":
            failed += 1
            continue
        if sale.currency != currency:
            entry = other.setdefault(sale.currency, _bucket())
        else:
            group = GROUP[sale.method]
            entry = breakdown[group]
            if group in details:
                sub = details[group].setdefault(sale.detail or "unknown", _bucket())
                sub["transaction_count"] += 1
                sub["total_amount"] += sale.amount
        entry["transaction_count"] += 1
        entry["total_amount"] += sale.amount
    breakdown["credit_card"]["by_brand"] = dict(sorted(details["credit_card"].items()))
    breakdown["qr"]["by_method"] = dict(sorted(details["qr"].items()))
    total = sum(b["total_amount"] for b in breakdown.values())
    count = sum(b["transaction_count"] for b in breakdown.values())
    refunded = {"transaction_count": sum(b["transaction_count"] for b in refunds.values()),
                "total_amount": sum(b["total_amount"] for b in refunds.values()), "by_method": refunds}
    return {"currency": currency, "payment_method_breakdown": breakdown, "total_transactions": count,
            "total_amount": total, "refunds": refunded, "net_amount": total - refunded["total_amount"],
            "cash_expected": breakdown["cash"]["total_amount"] - refunds["cash"]["total_amount"],
            "failed_transactions": failed, "other_currencies": dict(sorted(other.items()))}


def _add(bucket: dict[str, Any], amount: int) -> None:
    bucket["transaction_count"] += 1
    bucket["total_amount"] += amount


def with_count(report: dict[str, Any], cash_actual: int) -> dict[str, Any]:
    """The report with the counted cash and the discrepancy (counted - expected)."""
    if not 0 <= cash_actual <= MAX_CASH:
        raise SettlementRefused("cash_counted_invalid", "The counted cash must be a whole amount in minor "
                                f"units between 0 and {MAX_CASH}.", param="cash_counted")
    return {**report, "cash_actual": cash_actual, "cash_discrepancy": cash_actual - report["cash_expected"]}


_GROUP_NAMES = {"cash": "現金 Cash", "credit_card": "カード Card", "qr": "QR"}


def _row(label: str, bucket: Mapping[str, Any], currency: str) -> tuple[str, str]:
    return label, f"{bucket['transaction_count']}件 {format_money(bucket['total_amount'], currency)}"


def slip_of(report: Mapping[str, Any], store_name: str, tz: tzinfo) -> Slip:
    """The printed X or Z report (bilingual labels, like the pages)."""
    cur = str(report["currency"])

    def when(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, tz).strftime("%Y-%m-%d %H:%M")

    z = report["type"] == "z"
    title = "精算 Z report" if z else "点検 X report (no change)"
    head = [("No.", f"Z{int(report['z_number']):04d}" if z else "-"),
            ("営業日 Day", str(report["business_date"])), ("開始 From", when(int(report["start_time"]))),
            ("終了 To", when(int(report["end_time"]))),
            ("端末 Terminal", str(report["serial"]))]
    methods: list[tuple[str, str]] = []
    for group, bucket in report["payment_method_breakdown"].items():
        methods.append(_row(_GROUP_NAMES[group], bucket, cur))
        for sub, sub_bucket in {**bucket.get("by_brand", {}), **bucket.get("by_method", {})}.items():
            methods.append(_row(f"  {sub}", sub_bucket, cur))
    totals = [_row("合計 Total", {"transaction_count": report["total_transactions"],
                                  "total_amount": report["total_amount"]}, cur),
              ("失敗・取消 Failed/cancelled", f"{report['failed_transactions']}件")]
    totals += [_row(f"他通貨 {c}", b, c) for c, b in report["other_currencies"].items()]
    if "refunds" in report:  # reports stored before refunds were counted have no block
        totals += [_row("返品 Refunds", report["refunds"], cur),
                   ("純売上 Net", format_money(int(report["net_amount"]), cur))]
    cash = [("現金 理論値 Expected", format_money(int(report["cash_expected"]), cur))]
    if "cash_actual" in report:
        cash += [("現金 実査 Counted", format_money(int(report["cash_actual"]), cur)),
                 ("過不足 Discrepancy", format_money(int(report["cash_discrepancy"]), cur))]
    if z:
        cash.append(("責任者承認 Manager PIN", "OK"))
    return Slip(store_name, title, (head, methods, totals, cash))
