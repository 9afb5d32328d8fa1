"""The sale service: takes a CreateSale command and records it durably before anyone is told it succeeded."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from uuid6 import uuid7

from agent.adapters.store import Store
from agent.domain.caps import check_pending, check_sale_amount
from agent.domain.card_data import masked_reader_result, refuse_card_numbers
from agent.domain.commands import CreateSale
from agent.domain.errors import SaleRefused, UpstreamUnavailable
from agent.domain.ports import CardReaderPort, CardResult, ReceiptPrinterPort, SaleReceipt
from agent.domain.qr_sale import QrSale
from agent.domain.receipt import sync_metadata
from agent.domain.sale import NewSale, Sale, same_request
from agent.services.qr_sales import QrRequest, QrSales
from agent.services.receipts import Receipts, check_sale_items
from agent.settings import Settings
from drivers.errors import DriverError
from sync.telemetry import annotate, traced

log = logging.getLogger(__name__)
PRINT_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class SaleOutcome:
    """The sale as the API shows it, and whether this call created it (201) or found it (200)."""

    body: dict[str, Any]
    created: bool


class SaleService:
    """Cash and card sales go to the local chain (store-and-forward); QR (MPM, CPM) sales go to the cloud."""

    def __init__(self, store: Store, settings: Settings, qr: QrSales, *,
                 card_reader: CardReaderPort | None = None,
                 printer: ReceiptPrinterPort | None = None,
                 receipts: Receipts,
                 on_recorded: Callable[[], None] | None = None,
                 online: Callable[[], bool] | None = None) -> None:
        self._store = store
        self._receipts = receipts
        self._settings = settings
        self._qr = qr
        self._reader = card_reader
        self._printer = printer
        self._on_recorded = on_recorded  # e.g. the uploader's kick(): send now rather than at the next tick
        self._online = online  # the sync service's "online" (docs/sync-protocol.md, "Online")
        self._reader_lock = asyncio.Lock()  # one reader, one customer at a time
        qr.on_paid = self._print_qr  # QR sales succeed on the cloud, often after the request: print then

    @traced("sale.create")
    async def create(self, cmd: CreateSale) -> SaleOutcome:
        """Validate, take the money (cash / card result / reader / cloud QR), commit, then print."""
        annotate({"mpac.sale.payment_method": cmd.payment_method, "mpac.sale.amount": cmd.amount})
        refuse_card_numbers(cmd)  # before anything is stored or sent to the cloud
        currency = cmd.currency or self._settings.store.currencies[0]
        if currency not in self._settings.store.currencies:
            accepted = ", ".join(self._settings.store.currencies)
            raise SaleRefused("unsupported_currency", f"This terminal takes {accepted}, not {currency}.",
                              param="currency")
        ref = cmd.merchant_ref_id or f"{self._settings.agent.serial}-{uuid7()}"
        _check_method_fields(cmd)
        check_sale_items(cmd)
        if cmd.payment_method in ("qr_mpm", "qr_cpm"):
            receipt = self._receipts.stored(cmd)
            body, created = await self._qr.create(QrRequest(
                ref, cmd.amount, currency, dict(cmd.metadata), cmd.payment_method, cmd.customer_code,
                receipt))
            return SaleOutcome(body, created)
        if not self.online():  # online, a sale is forwarded at once (the kick below): not an offline sale
            check_sale_amount(cmd.amount, currency, self._settings.offline)
        if cmd.payment_method == "cash":
            assert cmd.cash_received is not None  # checked above
            new = self._new(cmd, ref, currency, "succeeded",
                            {"cash_received": cmd.cash_received, "change": cmd.cash_received - cmd.amount})
        elif cmd.card_result is not None:
            new = self._card(cmd, ref, currency, cmd.card_result.to_port(), enforce_caps=True)
        else:
            replay = await self._known(ref, cmd, currency)
            if replay is not None:
                return replay
            new = await self._card_from_reader(cmd, ref, currency)
        recorded = await self._store.record(new)
        if recorded.created:  # durable now; inside sale.create, so the line carries the sale's trace id
            log.info("sale %s recorded: seq %s, %s %d %s, %s", recorded.sale.local_id, recorded.sale.seq,
                     cmd.payment_method, cmd.amount, currency, recorded.sale.status)
        body = recorded.sale.to_json()
        if recorded.created and self._on_recorded is not None:
            self._on_recorded()
        if recorded.created and recorded.sale.status == "succeeded":
            body["print"] = await self._print(recorded.sale, cmd)
        return SaleOutcome(body, recorded.created)

    def online(self) -> bool:
        """Whether the cloud answered recently; False when sync is not running."""
        return self._online is not None and self._online()

    async def get(self, local_id: str) -> dict[str, Any] | None:
        """A cash/card sale or a QR sale by local_id."""
        sale = await self._store.get(local_id)
        if sale is not None:
            return sale.to_json()
        return await self._qr.get(local_id)

    async def cancel(self, local_id: str) -> dict[str, Any] | None:
        """Cancel a QR sale that is not final; cash and card sales are final once recorded (409)."""
        sale = await self._store.get(local_id)
        if sale is not None:
            raise SaleRefused("not_cancellable", f"A {sale.method} sale is final once recorded; it cannot be "
                              "cancelled here.", status=409)
        return await self._qr.cancel(local_id)

    async def _print_qr(self, row: QrSale) -> dict[str, Any]:
        """The receipt of a QR sale that just succeeded (after its status is committed)."""
        if self._printer is None:
            return {"status": "no_printer"}
        receipt = await self._receipts.for_qr(row)
        return await self._send_receipt(lambda: receipt, row.local_id)

    def _new(self, cmd: CreateSale, ref: str, currency: str, status: str, result: dict[str, Any], *,
             enforce_caps: bool = True) -> NewSale:
        metadata = {**cmd.metadata, **sync_metadata([i.to_item() for i in cmd.items])}
        return NewSale(ref, cmd.amount, currency, cmd.payment_method, status,  # type: ignore[arg-type]
                       result, metadata, self._receipts.stored(cmd), enforce_caps)

    def _card(self, cmd: CreateSale, ref: str, currency: str, card: CardResult, *,
              enforce_caps: bool) -> NewSale:
        result = {"card_status": card.status, "approval_code": card.approval_code,
                  "card_brand": card.card_brand,
                  "card_last_4": card.card_last_4, "entry_method": card.entry_method}
        if card.decline_reason is not None:
            result["decline_reason"] = card.decline_reason
        status = "succeeded" if card.status == "approved" else "failed"
        return self._new(cmd, ref, currency, status, result, enforce_caps=enforce_caps)

    async def _known(self, ref: str, cmd: CreateSale, currency: str) -> SaleOutcome | None:
        """Before driving the reader: a retry must not charge the card twice."""
        sale = await self._store.get_by_ref(ref)
        if sale is None and not await self._qr.has_ref(ref):
            return None
        probe = NewSale(ref, cmd.amount, currency, "card", "succeeded")
        if sale is None or not same_request(sale, probe):
            raise SaleRefused("merchant_ref_id_reused", f"The reference {ref!r} already belongs to another "
                              "sale. Use a new reference for a new sale.", param="merchant_ref_id",
                              status=409)
        return SaleOutcome(sale.to_json(), created=False)

    async def _card_from_reader(self, cmd: CreateSale, ref: str, currency: str) -> NewSale:
        if self._reader is None:
            raise SaleRefused("card_result_required", "No card reader is connected to this terminal: send "
                              "the "
                              "reader's answer as card_result.", param="card_result")
        # Caps are checked before the card is charged: refusing after an approval would lose the money.
        check_pending(cmd.amount, currency, await self._store.pending(), self._settings.offline,
                      self._store.clock_ms())
        async with self._reader_lock:
            try:
                card = await self._reader.authorize(cmd.amount, currency, ref)
            except Exception as err:  # a device fault of any kind: nothing is recorded
                log.warning("card reader failed for %s: %s", ref, type(err).__name__)
                raise _reader_failure(err) from err
        card, masked = masked_reader_result(card)
        if masked:  # the card is charged: keep the sale, never the number (the log names only the fields)
            log.warning("card reader answer for %s held a card number in %s; stored masked", ref,
                        ", ".join(masked))
        return self._card(cmd, ref, currency, card, enforce_caps=False)

    async def _print(self, sale: Sale, cmd: CreateSale) -> dict[str, Any]:
        """Print after commit; a print failure is reported, never turned into a failed sale."""
        if self._printer is None:
            return {"status": "no_printer"}
        try:
            receipt = await self._receipts.for_sale(sale)
        except Exception as err:  # the receipt number could not be stored: the sale stands, reprint later
            log.warning("receipt for sale %s not built: %s", sale.local_id, type(err).__name__)
            return {"status": "failed", "error": type(err).__name__}
        return await self._send_receipt(lambda: receipt, sale.local_id)

    async def _send_receipt(self, build: Callable[[], SaleReceipt], local_id: str) -> dict[str, Any]:
        assert self._printer is not None
        try:
            job_id = await asyncio.wait_for(self._printer.print_receipt(build()), PRINT_TIMEOUT_S)
        except Exception as err:  # the sale is committed; the receipt can be reprinted
            log.warning("receipt for sale %s not printed: %s", local_id, type(err).__name__)
            return {"status": "failed", "error": type(err).__name__}
        return {"status": "queued", "job_id": job_id}


def _reader_failure(err: Exception) -> UpstreamUnavailable:
    """What the cashier must do after a reader fault; the driver says whether the card may be charged."""
    if isinstance(err, DriverError) and err.outcome_unknown:
        return UpstreamUnavailable("card_outcome_unknown", "The card reader stopped after accepting the "
                                   "card: it may have been charged. Check the reader before taking the "
                                   "payment again.")
    advice = err.cashier_message if isinstance(err, DriverError) else f"({type(err).__name__})"
    return UpstreamUnavailable("card_reader_error", "The card reader did not complete the payment. "
                               f"{advice} Nothing was recorded; try again.")


def _check_method_fields(cmd: CreateSale) -> None:
    """Fields that belong to one payment method only, with the param a cashier screen can point at."""
    if cmd.payment_method == "cash":
        if cmd.cash_received is None:
            raise SaleRefused("cash_received_required", "A cash sale needs cash_received: the amount the "
                              "customer handed over.", param="cash_received")
        if cmd.cash_received < cmd.amount:
            raise SaleRefused("cash_received_too_low", "The cash received is less than the amount due.",
                              param="cash_received")
    elif cmd.cash_received is not None:
        raise SaleRefused("unexpected_field", "cash_received is only for cash sales.", param="cash_received")
    if cmd.customer_code is not None and cmd.payment_method != "qr_cpm":
        raise SaleRefused("unexpected_field", "customer_code is only for qr_cpm sales.",
                          param="customer_code")
    if cmd.card_result is not None and cmd.payment_method != "card":
        raise SaleRefused("unexpected_field", "card_result is only for card sales.", param="card_result")
