"""The refund service (docs/settlement.md "Refunds", docs/sync-protocol.md "Refund items").

Cash and card refunds are taken offline like sales: one writer job decides and chains them, and the uploader
sends them once. A QR sale's refund is made online through the cloud refund API
(`POST /v1/payment_intents/{id}/refunds`, device credential, Idempotency-Key from the refund's own reference),
then kept locally; offline it is refused. Either way it is committed before it prints and before the answer.
The store manager's PIN is checked by the caller (the admin gate, docs/local-web.md).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from uuid6 import uuid7

from agent.adapters.cloud_client import CloudClient, CloudRefused
from agent.adapters.store.refunds import Refunds
from agent.domain.errors import UpstreamUnavailable
from agent.domain.ports import ReceiptPrinterPort
from agent.domain.refund import (
    CHAIN_METHODS,
    NewRefund,
    RecordedRefund,
    Refund,
    RefundRefused,
    ReturnedLine,
    SaleToRefund,
    check_refund,
    refund_amount,
    replay,
)
from agent.services.receipts import Receipts

log = logging.getLogger(__name__)
PRINT_TIMEOUT_S = 5.0


class RefundService:
    """Full and partial refunds of this terminal's sales."""

    def __init__(self, refunds: Refunds, serial: str, cloud: CloudClient | None, *, receipts: Receipts,
                 printer: ReceiptPrinterPort | None, clock_ms: Callable[[], int],
                 on_recorded: Callable[[], None] | None = None) -> None:
        self._refunds = refunds
        self._serial = serial
        self._cloud = cloud
        self._receipts = receipts
        self._printer = printer
        self._clock = clock_ms
        self._on_recorded = on_recorded  # the uploader's kick()
        # One online refund per sale at a time (no writer job decides them): see _online_once.
        self._online_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def refund(self, sale_local_id: str, amount: int | None, reason: str | None,
                     merchant_refund_id: str | None = None,
                     items: Sequence[ReturnedLine] = ()) -> tuple[dict[str, Any], bool]:
        """Refund `amount` of the sale, or the `items` (lines of the sale) — committed — then print the refund
        receipt: (refund JSON, created).

        A retry under the same `merchant_refund_id` gets the first refund back (created False, no second
        print); raise RefundRefused (nothing written)."""
        local_id = str(uuid7())
        found = await self._refunds.sale(sale_local_id)
        new = NewRefund(local_id, sale_local_id, refund_amount(found, amount, items), reason,
                        merchant_refund_id or f"{self._serial}-R-{local_id}", items=tuple(items))
        known = await self._refunds.by_refund_id(new.merchant_refund_id)
        if known is not None:
            return known.to_json(), replay(known, new).created
        sale = check_refund(found, new.amount, new.items)  # the writer (or the sale's lock) checks again
        if sale.method in CHAIN_METHODS:
            recorded = await self._refunds.record(new)
            if recorded.created and self._on_recorded is not None:
                self._on_recorded()
        else:
            recorded = await self._online_once(new)
        body = recorded.refund.to_json()
        if recorded.created:
            body["print"] = await self._print(recorded.refund, sale)
        return body, recorded.created

    async def of_sale(self, sale_local_id: str) -> list[dict[str, Any]]:
        """The refunds of one sale, oldest first."""
        return [r.to_json() for r in await self._refunds.of_sale(sale_local_id)]

    async def _online_once(self, new: NewRefund) -> RecordedRefund:
        """A QR refund decided again under the sale's lock, with the refunds made while it waited: the cloud
        knows amounts, not lines, so two racing returns of a sale's last piece would both pass there. A
        parallel retry of the one that went first is found instead."""
        lock = self._online_locks.setdefault(new.sale_local_id, asyncio.Lock())
        async with lock:
            known = await self._refunds.by_refund_id(new.merchant_refund_id)
            if known is not None:
                return replay(known, new)
            sale = check_refund(await self._refunds.sale(new.sale_local_id), new.amount, new.items)
            return await self._online(new, sale)

    async def _online(self, new: NewRefund, sale: SaleToRefund) -> RecordedRefund:
        if self._cloud is None or not sale.cloud_intent_id:
            raise RefundRefused("not_enrolled", "QRの返金には端末の登録が必要です。 A QR payment is refunded "
                                "through the payment cloud, and this terminal is not enrolled.", status=403)
        body: dict[str, Any] = {"amount": new.amount, "merchant_refund_id": new.merchant_refund_id}
        if new.reason:
            body["reason"] = new.reason
        path = f"/v1/payment_intents/{sale.cloud_intent_id}/refunds"
        try:
            answer = await self._cloud.request("POST", path, body, f"{new.merchant_refund_id}:refund")
        except CloudRefused as err:
            raise _cloud_refusal(err) from err
        except UpstreamUnavailable as err:  # not reached, or reached and its answer lost: not known which
            raise UpstreamUnavailable(
                "refund_needs_network",
                "QRの返金はオンラインでのみ可能です。同じ返金番号で再試行してください。 "
                "A QR payment is refunded online only, and the payment cloud did not answer: if the request "
                "reached it, the refund "
                f"may have been made. Retry with merchant_refund_id {new.merchant_refund_id!r} once the "
                f"terminal is online: the same reference is never refunded twice. ({err.message})") from err
        if answer.get("object") != "refund" or answer.get("status") == "failed":
            raise UpstreamUnavailable("refund_failed", "The payment cloud did not make the refund "
                                      f"(status {answer.get('status')!r}): nothing was refunded.")
        return await self._refunds.record_online(new, sale, self._clock(), answer)

    async def _print(self, refund: Refund, sale: SaleToRefund) -> dict[str, Any]:
        """Print after commit; a print failure is reported, the refund stands (it can be reprinted)."""
        if self._printer is None:
            return {"status": "no_printer"}
        try:
            stored, original, sold_at = await self._refunds.original_receipt(sale.local_id)
            receipt = await self._receipts.for_refund(refund, sale.amount, stored, original, sold_at)
            job_id = await asyncio.wait_for(self._printer.print_receipt(receipt), PRINT_TIMEOUT_S)
        except Exception as err:  # the refund is committed; the receipt can be reprinted
            log.warning("refund receipt %s not printed: %s", refund.local_id, type(err).__name__)
            return {"status": "failed", "error": type(err).__name__}
        return {"status": "queued", "job_id": job_id}


# The cloud's refusals a manager can act on keep their code (docs/local-web.md#refunds): e.g. a refund made
# on the cloud by another system that this terminal did not know of.
_CLOUD_REFUND_CODES = frozenset({"refund_exceeds_remaining", "payment_not_refundable",
                                 "merchant_refund_id_in_use"})


def _cloud_refusal(err: CloudRefused) -> RefundRefused:
    """A refund the cloud refused, as the agent's refusal: nothing was refunded or written."""
    message = err.message.removeprefix("The payment cloud refused this payment: ")
    text = f"返金できません。 The payment cloud refused this refund: {message}. Nothing was refunded."
    if err.cloud_code in _CLOUD_REFUND_CODES:
        return RefundRefused(err.cloud_code, text, param=err.param)
    return RefundRefused("cloud_refused", text, param=err.param, status=502)
