"""The `simulator` QR provider: issues MPM codes, charges CPM codes, and lets tests or the demo settle them.

It never calls a real provider. QR content points at the reserved `.invalid` domain. CPM codes starting with
`SIMFAIL` are declined, `SIMPEND` stay pending until marked, anything else is paid at once.

Settling a code also sends a webhook to the gateway's `POST /v1/webhooks/simulator` when the store's
simulator config holds a `webhook_secret` (a `whsec_` secret): Standard Webhooks headers signed with it,
verified by `SimulatorWebhooks` (docs/cloud-api.md#inbound-provider-webhooks).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from urllib.parse import urlsplit

import aiohttp

from cloud.domain.errors import ValidationFailed
from cloud.domain.ids import new_id
from cloud.domain.intent import PaymentIntent
from cloud.domain.provider_ports import (
    InboundWebhook,
    ProviderEvent,
    ProviderResult,
    ProviderStatus,
    RefundRequest,
)
from cloud.domain.tenants import StoreProviderConfig
from cloud.domain.webhooks import secret_key, signed_headers, verify
from cloud.infrastructure.providers.http import SessionPool

log = logging.getLogger(__name__)
WEBHOOK_SECRET = "webhook_secret"  # noqa: S105 — a config key, not a secret; the config key holding the whsec_ secret callbacks are signed with

NAME = "simulator"
QR_BASE = "https://qr.simulator.invalid/mpm/"


class UnknownCode(LookupError):
    """The simulator never issued this reference."""


class SimulatorProvider:
    """In-memory provider state; one instance per server process."""

    name = NAME

    def __init__(self) -> None:
        self._codes: dict[str, ProviderStatus] = {}
        self._pool = SessionPool(limit=8, limit_per_host=8)  # webhooks only, to the gateway itself

    async def aclose(self) -> None:
        """Close the pooled webhook connections (the app's cleanup calls this)."""
        await self._pool.aclose()

    async def create_mpm(self, intent: PaymentIntent, config: StoreProviderConfig | None) -> ProviderResult:
        """Issue a pending merchant-presented code."""
        ref = new_id("simqr")
        self._codes[ref] = ProviderStatus.PENDING
        return ProviderResult(
            ref, ProviderStatus.PENDING, qr_content=f"{QR_BASE}{ref}?amount={intent.amount}"
        )

    async def charge_cpm(
        self, intent: PaymentIntent, customer_code: str, config: StoreProviderConfig | None
    ) -> ProviderResult:
        """Charge a scanned customer code (see the module doc for the outcome rules)."""
        ref = new_id("simpay")
        if customer_code.startswith("SIMFAIL"):
            status = ProviderStatus.FAILED
        elif customer_code.startswith("SIMPEND"):
            status = ProviderStatus.PENDING
        else:
            status = ProviderStatus.SUCCEEDED
        self._codes[ref] = status
        failure = "provider_declined" if status is ProviderStatus.FAILED else None
        return ProviderResult(ref, status, failure_code=failure)

    async def status(self, reference: str, config: StoreProviderConfig | None) -> ProviderResult:
        """The current status of a reference this simulator issued."""
        status = self._codes.get(reference)
        if status is None:
            return ProviderResult(reference, ProviderStatus.FAILED, failure_code="provider_unknown_reference")
        failure = "provider_declined" if status is ProviderStatus.FAILED else None
        return ProviderResult(reference, status, failure_code=failure)

    def mark(self, reference: str, status: ProviderStatus) -> None:
        """Settle a pending reference as paid or failed (what a customer's phone would do)."""
        if reference not in self._codes:
            raise UnknownCode(reference)
        self._codes[reference] = status

    async def cancel(self, reference: str, config: StoreProviderConfig | None) -> None:
        """Withdraw a pending reference (it reads as failed afterwards); others are left as they are."""
        if self._codes.get(reference) is ProviderStatus.PENDING:
            self._codes[reference] = ProviderStatus.FAILED

    async def refund(
        self, reference: str, refund: RefundRequest, config: StoreProviderConfig | None
    ) -> ProviderResult:
        """Refund a paid reference at once; refunding anything else fails with provider_not_refundable."""
        if self._codes.get(reference) is not ProviderStatus.SUCCEEDED:
            failure = "provider_not_refundable"
            return ProviderResult(refund.refund_id, ProviderStatus.FAILED, failure_code=failure)
        return ProviderResult(refund.refund_id, ProviderStatus.SUCCEEDED)

    def check_credentials(self, credentials: Mapping[str, str]) -> None:
        """The simulator needs no credentials; a `webhook_secret`, when given, must be a whsec_ secret."""
        if WEBHOOK_SECRET in credentials:
            try:
                secret_key(credentials[WEBHOOK_SECRET])
            except ValueError as err:
                raise ValidationFailed(f"webhook_secret: {err}", param="credentials") from err

    async def notify(self, intent_id: str, reference: str, config: StoreProviderConfig | None, url: str, *,
                     now: float, timeout_s: float = 5.0) -> int | None:  # fmt: skip
        """POST the settled status of `reference` to `url`, signed with the config's webhook_secret; the HTTP
        status (None: not sent, or no answer)."""
        secret = None if config is None else config.credentials.get(WEBHOOK_SECRET)
        status = self._codes.get(reference)
        if not secret or status is None:
            return None
        stamp = int(now)
        event_id = new_id("simevt")
        body = json.dumps({"id": event_id, "type": f"payment.{status.value}", "payment_intent": intent_id,
                           "reference": reference, "status": status.value, "created": stamp,
                           "failure_code": "provider_declined" if status is ProviderStatus.FAILED else None},
                          separators=(",", ":")).encode("utf-8")  # fmt: skip
        headers = {**signed_headers([secret], event_id, stamp, body), "Content-Type": "application/json"}
        # The gateway calls itself on the same host; a demo's throwaway TLS certificate is not verified.
        local = urlsplit(url).hostname in ("127.0.0.1", "::1", "localhost")
        try:
            async with self._pool.session().post(
                url, data=body, headers=headers, ssl=not local, timeout=aiohttp.ClientTimeout(total=timeout_s)
            ) as resp:
                return resp.status
        except (aiohttp.ClientError, TimeoutError) as err:
            log.warning("simulator webhook for %s not delivered: %s", intent_id, type(err).__name__)
            return None


class SimulatorWebhooks:
    """The simulator's inbound webhooks: Standard Webhooks headers under the store's webhook_secret."""

    def intent_of(self, body: bytes) -> str | None:
        """The `payment_intent` the body names."""
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError):
            return None
        found = doc.get("payment_intent") if isinstance(doc, dict) else None
        return found if isinstance(found, str) else None

    def read(
        self, webhook: InboundWebhook, config: StoreProviderConfig | None, now: float
    ) -> ProviderEvent | None:
        """The event if signed with the store's webhook_secret within the tolerance, else None."""
        secret = None if config is None else config.credentials.get(WEBHOOK_SECRET)
        if not secret or not verify(secret, webhook.headers, webhook.body, now):
            return None
        doc = json.loads(webhook.body)
        status, reference = doc.get("status"), doc.get("reference")
        if status not in ("succeeded", "failed") or not isinstance(reference, str):
            return None
        failure = "provider_declined" if status == "failed" else None
        result = ProviderResult(reference, ProviderStatus(status), failure_code=failure)
        return ProviderEvent(str(doc["payment_intent"]), reference, result)
