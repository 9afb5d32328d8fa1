"""The `paypay` QR provider: the QRProvider port over PayPay's Open Payment API (docs/providers.md).

MPM is a dynamic code (`POST /v2/codes`, ORDER_QR, merchantPaymentId = the intent id); CPM is a payment
created with the scanned code (`POST /v2/payments`); statuses are read per kind; refunds go to
`POST /v2/refunds`. Our provider_ref says which kind it is (`mpm:<id>:<codeId>` or `cpm:<id>`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from cloud.domain.errors import ProviderError, ProviderUnavailable
from cloud.domain.intent import PaymentIntent
from cloud.domain.provider_ports import ProviderResult, ProviderStatus, RefundRequest
from cloud.domain.tenants import StoreProviderConfig
from cloud.infrastructure.providers.paypay.client import PayPayClient, Policy, Transient
from cloud.infrastructure.providers.paypay.wire import (
    DECLINES,
    NAME,
    Envelope,
    PayPayConfig,
    Reference,
    WireError,
    parse_config,
    status_of,
)

SUCCESS = "SUCCESS"
PENDING_CODES = frozenset({"USER_CONFIRMATION_REQUIRED"})
REFUND_STATUSES = {"CREATED": ProviderStatus.PENDING, "COMPLETED": ProviderStatus.SUCCEEDED,
                   "FAILED": ProviderStatus.FAILED}  # fmt: skip


def _config(config: StoreProviderConfig | None) -> PayPayConfig:
    if config is None:
        raise ProviderUnavailable("this store has no paypay provider config (base_url and keys)",
                                  code="provider_not_configured")  # fmt: skip
    return parse_config(config.credentials)


def _amount(amount: int, currency: str) -> dict[str, Any]:
    return {"amount": amount, "currency": currency}


def _result(ref: Reference, answer: Envelope) -> ProviderResult:
    """A payment-details answer as our status (ProviderError for an unknown status)."""
    try:
        status, failure = status_of(answer.data.get("status"))
    except WireError as err:
        raise ProviderError(f"PayPay: {err}") from err
    return ProviderResult(str(ref), status, failure_code=failure)


def _refused(what: str, answer: Envelope) -> ProviderError:
    return ProviderError(f"PayPay refused to {what}: {answer.code} (HTTP {answer.http_status})")


class PayPayProvider:
    """One instance per process; each call takes the store's config (keys and base_url)."""

    name = NAME

    def __init__(self, *, policy: Policy | None = None, epoch: Callable[[], float] = time.time) -> None:
        self._client = PayPayClient(policy or Policy(), epoch)
        self._epoch = epoch

    async def aclose(self) -> None:
        """Close the pooled PayPay connections (the app's cleanup calls this)."""
        await self._client.aclose()

    def check_credentials(self, credentials: Mapping[str, str]) -> None:
        """ValidationFailed unless api_key, api_secret and base_url are there (docs/providers.md#config)."""
        parse_config(credentials)

    async def create_mpm(self, intent: PaymentIntent, config: StoreProviderConfig | None) -> ProviderResult:
        """A dynamic ORDER_QR code; a repeat with the same intent id gets the same code, so it is retried."""
        cfg = _config(config)
        body = {"merchantPaymentId": intent.id, "amount": _amount(intent.amount, intent.currency),
                "codeType": "ORDER_QR", "orderDescription": intent.description or intent.merchant_ref_id,
                "requestedAt": int(self._epoch()), "expiryDate": int(intent.expires_at),
                "isAuthorization": False}  # fmt: skip
        try:
            answer = await self._client.call(cfg, "POST", "/v2/codes", body, retry=True)
        except Transient as err:
            raise err.unavailable() from err
        code_id, url = answer.data.get("codeId"), answer.data.get("url")
        if answer.code != SUCCESS or not isinstance(code_id, str) or not isinstance(url, str):
            raise _refused("create a code", answer)
        return ProviderResult(
            str(Reference("mpm", intent.id, code_id)), ProviderStatus.PENDING, qr_content=url
        )

    async def charge_cpm(
        self, intent: PaymentIntent, customer_code: str, config: StoreProviderConfig | None
    ) -> ProviderResult:
        """Create a payment with the scanned code; when the answer is lost, read the payment back."""
        cfg = _config(config)
        ref = Reference("cpm", intent.id)
        body = {"merchantPaymentId": intent.id, "userAuthorizationId": customer_code,
                "amount": _amount(intent.amount, intent.currency), "requestedAt": int(self._epoch()),
                "orderDescription": intent.description or intent.merchant_ref_id}  # fmt: skip
        try:
            answer = await self._client.call(cfg, "POST", "/v2/payments", body, retry=False)
        except Transient as err:
            if not err.sent:
                raise err.unavailable() from err
            return await self._read_back(cfg, ref, err)
        if answer.code in DECLINES:
            return ProviderResult(str(ref), ProviderStatus.FAILED, failure_code=DECLINES[answer.code])
        if answer.code in PENDING_CODES:
            return ProviderResult(str(ref), ProviderStatus.PENDING)
        if answer.code != SUCCESS:
            raise _refused("create a payment", answer)
        return _result(ref, answer)

    async def _read_back(self, cfg: PayPayConfig, ref: Reference, cause: Transient) -> ProviderResult:
        """The outcome of a create whose answer was lost: PayPay's record decides, never a guess."""
        try:
            answer = await self._details(cfg, ref)
        except Transient:
            return ProviderResult(str(ref), ProviderStatus.PENDING)  # still unknown: a later sync reads it
        if answer.http_status == 404:
            raise cause.unavailable() from cause  # nothing was created: the confirm may be repeated
        return _result(ref, answer)

    async def _details(self, cfg: PayPayConfig, ref: Reference) -> Envelope:
        prefix = "/v2/codes/payments/" if ref.kind == "mpm" else "/v2/payments/"
        return await self._client.call(cfg, "GET", prefix + ref.merchant_payment_id, retry=True)

    async def status(self, reference: str, config: StoreProviderConfig | None) -> ProviderResult:
        """PayPay's status of the code's payment or of the CPM payment, through the one status table."""
        ref = Reference.parse(reference)
        if ref is None:
            return ProviderResult(reference, ProviderStatus.FAILED, failure_code="provider_unknown_reference")
        cfg = _config(config)
        try:
            answer = await self._details(cfg, ref)
        except Transient as err:
            raise err.unavailable() from err
        if answer.http_status == 404:  # an unpaid code has no payment yet; an unknown CPM payment never was
            if ref.kind == "mpm":
                return ProviderResult(reference, ProviderStatus.PENDING)
            return ProviderResult(reference, ProviderStatus.FAILED, failure_code="provider_unknown_reference")
        if answer.code != SUCCESS:
            raise _refused("report a status", answer)
        return _result(ref, answer)

    async def cancel(self, reference: str, config: StoreProviderConfig | None) -> None:
        """Delete the MPM code, or cancel the CPM payment (both idempotent at PayPay, so retried)."""
        ref = Reference.parse(reference)
        if ref is None:
            return
        cfg = _config(config)
        path = f"/v2/codes/{ref.code_id}" if ref.kind == "mpm" else f"/v2/payments/{ref.merchant_payment_id}"
        try:
            answer = await self._client.call(cfg, "DELETE", path, retry=True)
        except Transient as err:
            raise err.unavailable() from err
        if answer.code != SUCCESS and answer.http_status != 404:
            raise _refused("cancel", answer)

    async def refund(
        self, reference: str, refund: RefundRequest, config: StoreProviderConfig | None
    ) -> ProviderResult:
        """POST /v2/refunds for the payment behind `reference` (merchantRefundId makes it safe to retry)."""
        ref = Reference.parse(reference)
        if ref is None:
            raise ProviderError(f"not a paypay reference: {reference!r}")
        cfg = _config(config)
        try:
            details = await self._details(cfg, ref)
            payment_id = details.data.get("paymentId")
            if details.code != SUCCESS or not isinstance(payment_id, str):
                raise _refused("find the payment to refund", details)
            body = {"merchantRefundId": refund.refund_id, "paymentId": payment_id,
                    "amount": _amount(refund.amount, refund.currency), "requestedAt": int(self._epoch()),
                    **({"reason": refund.reason} if refund.reason else {})}  # fmt: skip
            answer = await self._client.call(cfg, "POST", "/v2/refunds", body, retry=True)
        except Transient as err:
            raise err.unavailable() from err
        status = REFUND_STATUSES.get(str(answer.data.get("status")))
        if answer.code != SUCCESS or status is None:
            raise _refused("refund", answer)
        failure = "provider_refund_failed" if status is ProviderStatus.FAILED else None
        return ProviderResult(refund.refund_id, status, failure_code=failure)
