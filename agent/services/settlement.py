"""End-of-day settlement (docs/settlement.md): the X report reads the open business day, the Z report closes
it — stored durably (numbered, once per business day, queued for sync) before it prints or anyone is told.

The store manager's PIN is checked by the caller (the admin password and its lockout, docs/local-web.md)
before `close_day` is called.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ulid import ULID

from agent.adapters.store.settlements import Settlements
from agent.domain.ports import DocumentPrinterPort
from agent.domain.receipt import StoreInfo
from agent.domain.settlement import Takings, figures, slip_of, with_count
from agent.settings import Settings

log = logging.getLogger(__name__)
PRINT_TIMEOUT_S = 5.0


class SettlementService:
    """X and Z reports of this terminal."""

    def __init__(self, settlements: Settlements, settings: Settings, store: StoreInfo,
                 printer: DocumentPrinterPort | None, clock_ms: Callable[[], int], *,
                 on_closed: Callable[[], None] | None = None) -> None:
        self._db = settlements
        self._on_closed = on_closed  # the uploader's kick(): the report is sent now, not at the next tick
        self._settings = settings
        self._store = store
        self._printer = printer
        self._clock = clock_ms

    def _business_date(self, now: int) -> str:
        return datetime.fromtimestamp(now / 1000, self._store.tz).date().isoformat()

    def _report(self, kind: str, takings: list[Takings], first: int | None, now: int) -> dict[str, Any]:
        return {"object": "settlement", "type": kind, "business_date": self._business_date(now),
                "serial": self._settings.agent.serial, "device_id": self._settings.cloud.device_id or None,
                "store_name": self._store.name, "start_time": first if first is not None else now,
                "end_time": now, **figures(takings, self._settings.store.currencies[0])}

    async def x_report(self) -> dict[str, Any]:
        """The open business day's figures; changes nothing."""
        now = self._clock()
        takings, first, last_z = await self._db.open_day()
        return {**self._report("x", takings, first, now), "z_number": None, "last_z_number": last_z}

    async def close_day(self, cash_counted: int) -> dict[str, Any]:
        """The Z report: committed (with its sales marked) before it is printed and answered."""
        now = self._clock()
        settlement_id = f"st_{ULID()}"
        with_count({"cash_expected": 0}, cash_counted)  # refuse a bad count before anything is written

        def build(takings: list[Takings], first: int | None, number: int) -> dict[str, Any]:
            report = self._report("z", takings, first, now)
            return {**with_count(report, cash_counted), "settlement_id": settlement_id, "z_number": number,
                    "status": "closed", "signed_by": "store_manager", "signed_at": now}

        report = await self._db.close_day(settlement_id, self._business_date(now), now, build)
        if self._on_closed is not None:
            self._on_closed()
        return {**report, "sync_state": "queued", "print": await self._print(report)}

    async def reports(self, limit: int = 10) -> list[dict[str, Any]]:
        """The newest Z reports."""
        return await self._db.reports(limit)

    async def _print(self, report: dict[str, Any]) -> dict[str, Any]:
        if self._printer is None:
            return {"status": "no_printer"}
        slip = slip_of(report, self._store.name, self._store.tz)
        try:
            job_id = await asyncio.wait_for(self._printer.print_slip(slip, report["settlement_id"]),
                                            PRINT_TIMEOUT_S)
        except Exception as err:  # the report is stored; it can be reprinted from the status page
            log.warning("Z report %s not printed: %s", report["settlement_id"], type(err).__name__)
            return {"status": "failed", "error": type(err).__name__}
        return {"status": "queued", "job_id": job_id}
