"""QR sales on the cloud, mirrored locally in qr_sales and never queued offline (outside the offline chain).

QR MPM: create + confirm at once → `requires_action` with `qr_content`; the customer's app pays later.
QR CPM: create, then confirm with the customer's code → `succeeded` / `failed`. The code comes in the request
(`customer_code`) or, with a scanner wired, from the next scan within `cpm_scan_timeout_s` (a background
task; the sale answers 201 `awaiting_scan: true` at once and the client polls GET or cancels). Every cloud
call is signed with the device credential and carries an Idempotency-Key derived from the reference, so a
retry after a lost answer can neither create a second intent nor charge a code twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from uuid6 import uuid7

from agent.adapters.cloud_client import CloudClient, CloudRefused
from agent.adapters.store import Store
from agent.adapters.store.qr_mirror import QrMirror
from agent.domain.errors import AgentError, SaleRefused, UpstreamUnavailable
from agent.domain.qr_sale import TERMINAL, QrSale, qr_to_json
from agent.services.qr_scan import ScannerBusy, ScanWaiter

log = logging.getLogger(__name__)
PaidHook = Callable[[QrSale], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class QrRequest:
    """One QR sale as the sale service hands it over (already validated)."""

    ref: str
    amount: int
    currency: str
    metadata: dict[str, Any]
    method: str = "qr_mpm"  # "qr_mpm" | "qr_cpm"
    customer_code: str | None = field(default=None, repr=False)
    receipt: dict[str, Any] = field(default_factory=dict)  # lines and tax, printed when paid


class QrSales:
    """QR intents on the cloud with the device credential; `cloud` None means not enrolled."""

    def __init__(self, store: Store, mirror: QrMirror, cloud: CloudClient | None, terminal_id: str,
                 clock_ms: Callable[[], int], *, scans: ScanWaiter | None = None,
                 scan_timeout_s: float = 60.0) -> None:
        self._store = store
        self._mirror = mirror
        self._cloud = cloud
        self._terminal_id = terminal_id
        self._clock = clock_ms
        self._scans = scans
        self._scan_timeout_s = scan_timeout_s
        self._locks: dict[str, asyncio.Lock] = {}
        self._scan_tasks: dict[str, asyncio.Task[None]] = {}
        self._confirming: set[str] = set()
        self.on_paid: PaidHook | None = None  # e.g. print the receipt; called once per sale

    async def create(self, req: QrRequest) -> tuple[dict[str, Any], bool]:
        """Return (sale JSON, created). A retry with the same reference returns the first sale."""
        lock = self._locks.setdefault(req.ref, asyncio.Lock())
        async with lock:
            try:
                return await self._create_once(req)
            finally:
                if not lock._waiters:
                    self._locks.pop(req.ref, None)

    async def _create_once(self, req: QrRequest) -> tuple[dict[str, Any], bool]:
        ref, amount, currency, method, code = req.ref, req.amount, req.currency, req.method, req.customer_code
        row = await self._row("merchant_ref_id", ref)
        if row is not None:
            if (row.amount, row.currency, row.payment_method) != (amount, currency, method):
                raise _reused(ref)
            if (code is not None and method == "qr_cpm" and row.status == "requires_payment_method"
                    and not self._scanning(row.local_id)):
                return await self._confirm(row, code), False  # a retry after a lost confirm answer
            return self._json(row), False
        if await self._store.get_by_ref(ref) is not None:
            raise _reused(ref)
        cloud = self._require_cloud()
        if method == "qr_cpm" and code is None:
            if self._scans is None:
                raise SaleRefused("customer_code_required", "No scanner is connected to this terminal: send "
                                  "the customer's code as customer_code.", param="customer_code")
            if self._scans.waiting:
                raise SaleRefused("scanner_busy", "Another QR payment is waiting for the scanner. Finish or "
                                  "stop it first.", status=409)
        body = {"amount": amount, "currency": currency, "payment_method_type": method,
                "processing_mode": "pgw_processed", "merchant_ref_id": ref,
                "merchant_terminal_id": self._terminal_id, "metadata": req.metadata}
        intent = await cloud.request("POST", "/v1/payment_intents", body, f"{ref}:create")
        intent_id = str(intent.get("id", ""))
        if not intent_id.startswith("pi_"):
            raise UpstreamUnavailable("cloud_bad_answer",
                                      "The payment cloud gave an answer without an intent id.")
        qr_content: str | None = None
        status = str(intent.get("status", "requires_payment_method"))
        if method == "qr_mpm":
            confirmed = await cloud.request("POST", f"/v1/payment_intents/{intent_id}/confirm", {},
                                            f"{ref}:confirm")
            found = confirmed.get("qr_content") or confirmed.get("qr_code_url")
            qr_content = found if isinstance(found, str) else None
            status = str(confirmed.get("status", ""))
        provider = intent.get("provider")
        row = await self._insert(req, intent_id=intent_id, status=status, qr_content=qr_content,
                                 provider=provider if isinstance(provider, str) else None)
        if method == "qr_mpm":
            return self._json(row), True
        if code is not None:
            return await self._confirm(row, code), True
        local_id = row.local_id
        task = asyncio.create_task(self._await_scan(local_id), name=f"qr-cpm-scan-{local_id}")
        self._scan_tasks[local_id] = task
        task.add_done_callback(lambda _t: self._scan_tasks.pop(local_id, None))
        return self._json(row), True

    async def _insert(self, req: QrRequest, *, intent_id: str, status: str,
                      qr_content: str | None, provider: str | None) -> QrSale:
        now = self._clock()
        sale = QrSale(str(uuid7()), req.ref, now, now, req.amount, req.currency, intent_id, status,
                      qr_content, json.dumps(req.metadata, ensure_ascii=False), req.method, None,
                      json.dumps(req.receipt, ensure_ascii=False), provider)
        await self._mirror.add(sale)
        return sale

    async def _await_scan(self, local_id: str) -> None:
        """Background: wait for the customer's code, confirm it; on timeout cancel the intent."""
        assert self._scans is not None
        try:
            code = await self._scans.next_code(self._scan_timeout_s)
        except ScannerBusy:  # another sale took the scanner first: this one cannot be paid by scan
            code = None
        row = await self._row("local_id", local_id)
        if row is None or row.status in TERMINAL:
            return
        self._confirming.add(local_id)
        try:
            if code is None:
                await self._cancel_on_cloud(row, "scan_timeout")
            else:
                await self._confirm(row, code)
        except AgentError as err:  # offline mid-way: the status stays as stored; GET refreshes it later
            log.warning("QR CPM sale %s not settled after the scan step: %s", local_id, err.code)
        finally:
            self._confirming.discard(local_id)

    async def _confirm(self, row: QrSale, code: str) -> dict[str, Any]:
        cloud = self._require_cloud()
        path = f"/v1/payment_intents/{row.cloud_intent_id}/confirm"
        try:
            intent = await cloud.request("POST", path, {"customer_code": code},
                                         f"{row.merchant_ref_id}:confirm")
        except CloudRefused:
            fresh = await self.get(row.local_id)  # e.g. expired or cancelled meanwhile
            if fresh is not None and fresh["status"] in TERMINAL:
                return fresh
            raise
        return await self._apply(row.local_id, intent)

    async def cancel(self, local_id: str) -> dict[str, Any] | None:
        """Cancel a QR sale that is not final (stop waiting for a scan, cancel the cloud intent)."""
        row = await self._row("local_id", local_id)
        if row is None:
            return None
        task = self._scan_tasks.get(local_id)
        if task is not None:
            if local_id in self._confirming:
                await asyncio.shield(task)  # the code is already with the cloud: take its answer
            else:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            row = await self._row("local_id", local_id)
            assert row is not None
        if row.status in TERMINAL:
            raise _final(row)
        return await self._cancel_on_cloud(row, "cancelled_by_cashier")

    async def _cancel_on_cloud(self, row: QrSale, reason: str) -> dict[str, Any]:
        cloud = self._require_cloud()
        path = f"/v1/payment_intents/{row.cloud_intent_id}/cancel"
        try:
            intent = await cloud.request("POST", path, {"cancellation_reason": "abandoned"},
                                         f"{row.merchant_ref_id}:cancel")
        except CloudRefused:  # e.g. 409 intent_already_paid: the cloud found it paid (docs/cloud-api.md)
            fresh = await self.get(row.local_id)
            if fresh is not None and fresh["status"] in TERMINAL:
                stored = await self._row("local_id", row.local_id)
                assert stored is not None
                raise _final(stored) from None
            raise
        return await self._apply(row.local_id, intent, reason)

    async def _apply(self, local_id: str, intent: dict[str, Any],
                     reason: str | None = None) -> dict[str, Any]:
        """Store the cloud's status; the first transition to succeeded triggers on_paid (the receipt)."""
        status = str(intent.get("status", ""))
        failure = intent.get("failure_code") or intent.get("cancellation_reason")
        failure_code = reason if status == "cancelled" and reason else failure
        provider = intent.get("provider")
        changed = await self._mirror.set_status(
            local_id, status, failure_code if isinstance(failure_code, str) else None, self._clock(),
            provider if isinstance(provider, str) else None)
        row = await self._row("local_id", local_id)
        assert row is not None
        body = self._json(row)
        if changed and status == "succeeded" and self.on_paid is not None:
            body["print"] = await self.on_paid(row)
        return body

    async def has_ref(self, ref: str) -> bool:
        """Is this reference already used by a QR sale?"""
        return await self._row("merchant_ref_id", ref) is not None

    async def get(self, local_id: str) -> dict[str, Any] | None:
        """The QR sale, refreshed from the cloud while it is not final (stays as stored when offline)."""
        row = await self._row("local_id", local_id)
        if row is None:
            return None
        if self._cloud is not None and row.status not in TERMINAL and not self._scanning(local_id):
            try:
                intent = await self._cloud.request("GET", f"/v1/payment_intents/{row.cloud_intent_id}")
            except AgentError:
                return self._json(row)
            if str(intent.get("status", row.status)) != row.status:
                return await self._apply(local_id, intent)
        return self._json(row)

    async def close(self) -> None:
        """Stop waiting for scans (shutdown); the intents stay as stored and expire on the cloud."""
        tasks = list(self._scan_tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _scanning(self, local_id: str) -> bool:
        task = self._scan_tasks.get(local_id)
        return task is not None and not task.done()

    def _json(self, row: QrSale) -> dict[str, Any]:
        local_id = row.local_id
        return qr_to_json(row, awaiting_scan=self._scanning(local_id) and local_id not in self._confirming)

    def _require_cloud(self) -> CloudClient:
        if self._cloud is None:
            raise UpstreamUnavailable("not_enrolled", "QR payments need this terminal to be enrolled with "
                                      "the payment cloud. Take cash or card instead.")
        return self._cloud

    async def _row(self, column: str, value: str) -> QrSale | None:
        return await self._mirror.find("local_id" if column == "local_id" else "merchant_ref_id", value)


def _reused(ref: str) -> SaleRefused:
    return SaleRefused("merchant_ref_id_reused", f"The reference {ref!r} already belongs to another sale. "
                       "Use a new reference for a new sale.", param="merchant_ref_id", status=409)


def _final(row: QrSale) -> SaleRefused:
    if row.status == "succeeded":  # docs/local-web.md#other-json-routes
        return SaleRefused("sale_final", "The customer already paid this QR sale: it is not cancelled.",
                           status=409)
    return SaleRefused("sale_final", f"This QR sale is already {row.status}; it cannot be cancelled.",
                       status=409)
