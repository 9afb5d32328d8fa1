"""One signed HTTP exchange with a PayPay-API host: timeouts, bounded retries and a circuit breaker.

Retries happen only when the caller says the call is idempotent at PayPay (docs/providers.md#retries): the
create of a code (merchantPaymentId), status reads, deletes and refunds (merchantRefundId). A create of a
CPM payment is never repeated blindly; the adapter reads its status back instead.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from cloud.domain.errors import ProviderError, ProviderUnavailable
from cloud.infrastructure.providers.http import SessionPool
from cloud.infrastructure.providers.paypay import auth
from cloud.infrastructure.providers.paypay.wire import (
    CONTENT_TYPE,
    Envelope,
    PayPayConfig,
    WireError,
    envelope,
)


class Transient(Exception):
    """No usable answer this time (timeout, unreachable, 5xx, 429): the outcome at PayPay may be unknown."""

    def __init__(
        self, code: str, message: str, *, retry_after: float | None = None, sent: bool = True
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.retry_after, self.sent = code, message, retry_after, sent

    def unavailable(self) -> ProviderUnavailable:
        """The domain error the gateway answers with (503)."""
        return ProviderUnavailable(f"PayPay: {self.message}", code=self.code)


@dataclass(slots=True)
class Breaker:
    """Opens after `threshold` calls in a row got no answer; lets one call try again after `cooldown_s`."""

    threshold: int = 5
    cooldown_s: float = 10.0
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    opened_at: float | None = None

    def check(self) -> None:
        """ProviderUnavailable provider_circuit_open while open (a half-open trial passes)."""
        if self.opened_at is None:
            return
        if self.clock() - self.opened_at < self.cooldown_s:
            raise ProviderUnavailable("PayPay failed repeatedly; calls are paused for a few seconds",
                                      code="provider_circuit_open")  # fmt: skip
        self.opened_at = self.clock()  # half-open: this caller tries, the next ones wait another cooldown

    def record(self, ok: bool) -> None:
        """Count one finished call."""
        if ok:
            self.failures, self.opened_at = 0, None
            return
        self.failures += 1
        if self.failures >= self.threshold:
            self.opened_at = self.clock()


@dataclass(frozen=True, slots=True)
class Policy:
    """How hard one call tries: attempts for idempotent calls, backoff between them, and the load cap."""

    attempts: int = 3
    backoff_s: float = 0.05
    max_backoff_s: float = 0.5
    max_in_flight: int = 32


@dataclass(slots=True)
class PayPayClient:
    """Signed requests to the hosts of the configs it is given, over one pooled session whose connector
    holds as many connections as calls may be in flight (docs/providers.md#connections)."""

    policy: Policy = field(default_factory=Policy)
    epoch: Callable[[], float] = time.time
    breaker_factory: Callable[[], Breaker] = Breaker
    _breakers: dict[str, Breaker] = field(default_factory=dict)
    _in_flight: int = 0
    _pool: SessionPool = field(init=False)

    def __post_init__(self) -> None:
        self._pool = SessionPool(self.policy.max_in_flight, self.policy.max_in_flight)

    async def aclose(self) -> None:
        """Close the pooled connections (the app's cleanup does; a later call opens new ones)."""
        await self._pool.aclose()

    async def call(
        self, cfg: PayPayConfig, method: str, path: str, body: dict[str, Any] | None = None, *, retry: bool
    ) -> Envelope:
        """The decoded answer; Transient when none came (after the retries an idempotent call is allowed)."""
        breaker = self._breakers.setdefault(cfg.base_url, self.breaker_factory())
        breaker.check()
        if self._in_flight >= self.policy.max_in_flight:
            raise ProviderUnavailable("too many PayPay calls in flight", code="provider_busy")
        self._in_flight += 1
        try:
            answer = await self._with_retries(cfg, method, path, body, retry)
        except Transient:
            breaker.record(False)
            raise
        except ProviderError:
            breaker.record(True)  # PayPay answered: it is up, the answer was the trouble
            raise
        finally:
            self._in_flight -= 1
        breaker.record(True)
        return answer

    async def _with_retries(
        self, cfg: PayPayConfig, method: str, path: str, body: dict[str, Any] | None, retry: bool
    ) -> Envelope:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.policy.attempts),
            wait=self._wait,
            retry=retry_if_exception_type(Transient) if retry else retry_if_exception_type(_NotSent),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._once(cfg, method, path, body)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    def _wait(self, state: RetryCallState) -> float:
        """Exponential backoff, or PayPay's Retry-After when it sent one; both capped."""
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, Transient) and error.retry_after is not None:
            return min(error.retry_after, self.policy.max_backoff_s)
        backoff: float = self.policy.backoff_s * 2 ** (state.attempt_number - 1)
        return min(backoff, self.policy.max_backoff_s)

    async def _once(self, cfg: PayPayConfig, method: str, path: str, body: dict[str, Any] | None) -> Envelope:
        raw = None if body is None else json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        signed = auth.sign(cfg.api_key, cfg.api_secret, method=method, resource=path, body=raw,
                           content_type=CONTENT_TYPE, epoch=int(self.epoch()))  # fmt: skip
        headers = {"Authorization": signed}
        if raw is not None:
            headers["Content-Type"] = CONTENT_TYPE
        if cfg.merchant_id:
            headers["X-ASSUME-MERCHANT"] = cfg.merchant_id
        timeout = aiohttp.ClientTimeout(total=cfg.timeout_seconds)
        try:
            async with self._pool.session().request(
                method, cfg.base_url + path, data=raw, headers=headers, allow_redirects=False, timeout=timeout
            ) as resp:
                status, payload, retry_after = resp.status, await resp.read(), resp.headers.get("Retry-After")
        except TimeoutError as err:
            raise Transient("provider_timeout", f"no answer within {cfg.timeout_seconds:g} s") from err
        except aiohttp.ClientConnectorError as err:
            raise _NotSent("provider_unavailable", "cannot connect to PayPay", sent=False) from err
        except aiohttp.ClientError as err:
            raise Transient("provider_unavailable", f"connection failed ({type(err).__name__})") from err
        return _decode(status, payload, retry_after)


class _NotSent(Transient):
    """The request never reached PayPay (connection refused): safe to repeat even when not idempotent."""


def _decode(status: int, payload: bytes, retry_after: str | None) -> Envelope:
    if status == 429:
        wait = float(retry_after) if retry_after and retry_after.isdigit() else None
        raise _NotSent("provider_rate_limited", "rate limited (429)", retry_after=wait, sent=False)
    if status >= 500:
        raise Transient("provider_unavailable", f"server error {status}")
    try:
        return envelope(status, payload)
    except WireError as err:
        raise ProviderError(f"PayPay: {err}") from err
