"""A PayPay-API simulator: the Open Payment API's wire shape on a local aiohttp server (docs/providers.md).

It checks the OPA-Auth signature of every `/v2` call exactly as the adapter makes it (the body hash, the
HMAC, a time window, single-use nonces, X-ASSUME-MERCHANT), keeps codes, payments and refunds in memory,
and has hooks — Python methods and unauthenticated `/_sim` routes for a loopback demo — to settle
payments, inject latency, 5xx, 429 and timeouts, and send webhooks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from cloud.infrastructure.providers.paypay import auth
from cloud.infrastructure.providers.paypay_sim.routes import JSON, MERCHANT, Routes, answer
from cloud.infrastructure.providers.paypay_sim.state import Fault, Faults, Merchant, Payment, Refund
from cloud.infrastructure.providers.paypay_sim.webhooks import WebhookSender

WINDOW_S = 300
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class PayPaySimulator:
    """State and hooks of one simulated PayPay; `app()` serves it."""

    def __init__(self, merchants: list[Merchant], *, webhook_url: str | None = None,
                 clock: Callable[[], float] = time.time, window_s: float = WINDOW_S) -> None:  # fmt: skip
        self.merchants = {m.api_key: m for m in merchants}
        self.clock, self.window_s = clock, window_s
        self.payments: dict[str, Payment] = {}
        self.codes: dict[str, str] = {}  # codeId -> merchantPaymentId
        self.refunds: dict[str, Refund] = {}
        self.faults = Faults()
        self.latency_s = 0.0
        self.requests: list[tuple[str, str]] = []  # (method, path) of every /v2 call, on arrival
        self.peers: set[tuple[str, int]] = set()  # client (host, port) of /v2 calls: one per connection
        self.webhooks = WebhookSender(webhook_url, clock=clock)
        self._nonces: dict[tuple[str, str], float] = {}
        self._released = asyncio.Event()

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application(middlewares=[self._faults_mw, self._auth_mw])
        Routes(self).mount(app)
        app.on_shutdown.append(self._shutdown)
        return app

    async def _shutdown(self, app: web.Application) -> None:
        self._released.set()  # injected delays end now instead of holding the shutdown
        await self.webhooks.drain()

    # --- hooks -------------------------------------------------------------------------------------------
    def settle(self, merchant_payment_id: str, status: str) -> Payment:
        """Move a pending payment to COMPLETED, FAILED, EXPIRED or CANCELED and notify (KeyError: unknown)."""
        payment = self.payments[merchant_payment_id]
        if payment.status == "CREATED":
            payment.status = status
            payment.accepted_at = int(self.clock()) if status == "COMPLETED" else None
            self.webhooks.send(payment, self.merchants[payment.api_key])
        return payment

    def complete(self, merchant_payment_id: str) -> Payment:
        """The customer paid."""
        return self.settle(merchant_payment_id, "COMPLETED")

    def fail(self, merchant_payment_id: str) -> Payment:
        """The customer's payment failed."""
        return self.settle(merchant_payment_id, "FAILED")

    def expire(self, merchant_payment_id: str) -> Payment:
        """The code's time ran out."""
        return self.settle(merchant_payment_id, "EXPIRED")

    def inject(self, fault: Fault, times: int = 1) -> None:
        """Misbehave on the next `times` matching requests."""
        self.faults.push(fault, times)

    def calls(self, method: str, path: str) -> int:
        """How many /v2 requests with this method and path prefix arrived (faulted ones included)."""
        return sum(1 for m, p in self.requests if m == method and p.startswith(path))

    # --- state helpers for routes ----------------------------------------------------------------------
    def expire_due(self, payment: Payment) -> Payment:
        """A code past its expiryDate reads as EXPIRED (and notifies once)."""
        if (
            payment.status == "CREATED"
            and payment.expires_at is not None
            and self.clock() > payment.expires_at
        ):
            self.settle(payment.merchant_payment_id, "EXPIRED")
        return payment

    def new_code_id(self) -> str:
        """A fresh codeId in PayPay's style."""
        return "04-" + secrets.token_urlsafe(12)

    # --- middlewares ------------------------------------------------------------------------------------
    async def _pause(self, seconds: float) -> None:
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._released.wait(), seconds)

    @web.middleware
    async def _faults_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/v2/"):
            return await handler(request)
        self.requests.append((request.method, request.path))
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer is not None:
            self.peers.add((str(peer[0]), int(peer[1])))
        fault = self.faults.take(request.method, request.path)
        await self._pause(self.latency_s)
        if fault is not None and not fault.after:
            await self._pause(fault.delay_s)
            if fault.status is not None:
                return self._fault_answer(fault)
        resp = await handler(request)
        if fault is not None and fault.after:
            await self._pause(fault.delay_s)
            if fault.status is not None:
                return self._fault_answer(fault)
        return resp

    @staticmethod
    def _fault_answer(fault: Fault) -> web.Response:
        assert fault.status is not None
        code = "RATE_LIMIT" if fault.status == 429 else "INTERNAL_SERVER_ERROR"
        resp = answer(fault.status, code)
        if fault.retry_after is not None:
            resp.headers["Retry-After"] = str(fault.retry_after)
        return resp

    @web.middleware
    async def _auth_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/v2/"):
            return await handler(request)
        body = await request.read()
        problem = self._auth_problem(request, body)
        if problem is not None:
            return answer(401, "UNAUTHORIZED", message=problem)
        if body:
            try:
                request[JSON] = json.loads(body)
            except ValueError:
                return answer(400, "INVALID_REQUEST_PARAMS", message="body is not JSON")
        return await handler(request)

    def _auth_problem(self, request: web.Request, body: bytes) -> str | None:
        parsed = auth.parse(request.headers.get("Authorization", ""))
        merchant = self.merchants.get(parsed.api_key) if parsed else None
        if parsed is None or merchant is None:
            return "missing or unknown OPA-Auth credentials"
        now = self.clock()
        if abs(now - parsed.epoch) > self.window_s:
            return "epoch outside the accepted window"
        if not auth.verify(parsed, merchant.api_secret, method=request.method, resource=request.path,
                           body=body or None, content_type=request.headers.get("Content-Type")):  # fmt: skip
            return "signature does not match"
        assumed = request.headers.get("X-ASSUME-MERCHANT")
        if merchant.merchant_id is not None and assumed != merchant.merchant_id:
            return "X-ASSUME-MERCHANT does not name this key's merchant"
        self._nonces = {k: t for k, t in self._nonces.items() if now - t <= self.window_s}
        if (parsed.api_key, parsed.nonce) in self._nonces:
            return "nonce already used"
        self._nonces[(parsed.api_key, parsed.nonce)] = now
        request[MERCHANT] = merchant
        return None
