"""The simulator's webhook sender: a PayPay-style transaction notification per settled payment, signed
with OPA-Auth (docs/providers.md#webhooks), POSTed to a configurable URL, retried a few times."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from cloud.infrastructure.providers.paypay import auth
from cloud.infrastructure.providers.paypay.wire import CONTENT_TYPE
from cloud.infrastructure.providers.paypay_sim.state import Merchant, Payment

log = logging.getLogger(__name__)


def notification(payment: Payment, merchant: Merchant, now: float) -> dict[str, Any]:
    """The body PayPay sends when a payment's state changes."""
    paid = payment.status == "COMPLETED"
    return {"notification_type": "Transaction", "merchant_id": merchant.merchant_id, "store_id": None,
            "pos_id": None, "order_id": payment.payment_id, "merchant_order_id": payment.merchant_payment_id,
            "authorized_at": None, "expires_at": payment.expires_at, "order_amount": str(payment.amount),
            "paid_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)) if paid else None,
            "state": payment.status}  # fmt: skip


@dataclass(slots=True)
class Delivery:
    """One notification's fate: the HTTP statuses of its attempts (None for no answer)."""

    merchant_payment_id: str
    state: str
    attempts: list[int | None] = field(default_factory=list)

    @property
    def delivered(self) -> bool:
        """Whether some attempt got a 2xx."""
        return any(s is not None and 200 <= s < 300 for s in self.attempts)


@dataclass(slots=True)
class WebhookSender:
    """Sends in background tasks; `drain()` waits for the ones under way (tests and shutdown)."""

    url: str | None = None
    attempts: int = 3
    backoff_s: float = 0.1
    timeout_s: float = 5.0
    clock: Callable[[], float] = time.time
    deliveries: list[Delivery] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def send(self, payment: Payment, merchant: Merchant) -> None:
        """Queue one notification (nothing when no URL is configured)."""
        if not self.url:
            return
        delivery = Delivery(payment.merchant_payment_id, payment.status)
        self.deliveries.append(delivery)
        body = json.dumps(notification(payment, merchant, self.clock()), separators=(",", ":")).encode()
        task = asyncio.get_running_loop().create_task(self._deliver(self.url, body, merchant, delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for every notification under way."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _deliver(self, url: str, body: bytes, merchant: Merchant, delivery: Delivery) -> None:
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for attempt in range(self.attempts):
                if attempt:
                    await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
                status = await self._post(session, url, body, merchant)
                delivery.attempts.append(status)
                if status is not None and 200 <= status < 300:
                    return
        log.warning(
            "webhook for %s not delivered after %d attempts", delivery.merchant_payment_id, self.attempts
        )

    async def _post(
        self, session: aiohttp.ClientSession, url: str, body: bytes, merchant: Merchant
    ) -> int | None:
        path = urlsplit(url).path or "/"
        header = auth.sign(merchant.api_key, merchant.api_secret, method="POST", resource=path,
                           body=body, content_type=CONTENT_TYPE, epoch=int(self.clock()))  # fmt: skip
        headers = {"Authorization": header, "Content-Type": CONTENT_TYPE}
        try:
            async with session.post(url, data=body, headers=headers, allow_redirects=False) as resp:
                return resp.status
        except (aiohttp.ClientError, TimeoutError):
            return None
