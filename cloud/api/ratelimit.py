"""Request rate limits (docs/cloud-api.md#rate-limits): per merchant, and per source address for device
activation and for requests whose signature is wrong.

The counters live in the database (the RateCounters port), so every worker and every host on the same
database counts together; this module only does the window arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from cloud.api.errors import ApiError
from cloud.domain.ports import RATE_WINDOW, RateCounters
from cloud.settings import Settings

PEER_READ_TTL = 1.0  # seconds a source address found under its wrong-signature limit is not read again
MAX_REMEMBERED = 100_000  # keys remembered by one limiter before it forgets them all (bounded memory)


class Limiter(Protocol):
    """Counts events per key over a sliding minute."""

    async def check(self, key: str, now: float) -> float | None:
        """Count one event; None if allowed, else the seconds to wait (Retry-After)."""

    async def wait(self, key: str, now: float) -> float | None:
        """The seconds to wait if `key` is over its limit now, without counting; None if it is not."""

    async def count(self, key: str, now: float) -> None:
        """Count one event without checking."""


class SharedLimiter:
    """Allows `limit` events per minute per key; estimates the sliding count from two fixed windows, whose
    counters are rows in the database (named `<name>:<key>`).

    With `read_ttl`, a wait() that found the key under its limit is remembered for that many seconds, so the
    check that guards every request costs no database read for a key that is nowhere near its limit; a
    count() in this process forgets it at once, one in another worker is seen within `read_ttl`
    (docs/cloud-api.md#rate-limits). Every event is still counted in the database."""

    def __init__(self, counters: RateCounters, name: str, limit: int, *, read_ttl: float = 0.0) -> None:
        self.limit = limit
        self._counters, self._name, self._read_ttl = counters, name, read_ttl
        self._under: dict[str, float] = {}  # key -> when wait() last found it under the limit

    async def check(self, key: str, now: float) -> float | None:
        """Count one event if allowed (atomically, across workers); None if allowed, else the wait."""
        window, weight = _window(now)
        if await self._counters.take(f"{self._name}:{key}", window, weight, self.limit):
            return None
        return _retry_after(window, now)

    async def wait(self, key: str, now: float) -> float | None:
        """The seconds to wait if `key` is over its limit now (counts nothing)."""
        seen = self._under.get(key)
        if seen is not None and 0 <= now - seen < self._read_ttl:
            return None
        window, weight = _window(now)
        if await self._counters.over(f"{self._name}:{key}", window, weight, self.limit):
            self._under.pop(key, None)
            return _retry_after(window, now)
        if self._read_ttl:
            if len(self._under) >= MAX_REMEMBERED:
                self._under.clear()
            self._under[key] = now
        return None

    async def count(self, key: str, now: float) -> None:
        """Count one event."""
        self._under.pop(key, None)
        await self._counters.add(f"{self._name}:{key}", _window(now)[0])


def _window(now: float) -> tuple[int, float]:
    """The current fixed window's start and the weight of the previous window's count."""
    start = int(now // RATE_WINDOW) * RATE_WINDOW
    return start, 1.0 - (now - start) / RATE_WINDOW


def _retry_after(window: int, now: float) -> float:
    return max(1.0, math.ceil(window + RATE_WINDOW - now))


def stale_windows(now: float) -> int:
    """Windows that started before this are no longer read (the current and the previous one are)."""
    return _window(now)[0] - RATE_WINDOW


@dataclass(frozen=True, slots=True)
class PeerLimits:
    """The limits keyed by source address (request.remote; no X-Forwarded-For is trusted)."""

    activations: Limiter
    bad_signatures: Limiter

    @classmethod
    def shared(cls, counters: RateCounters, settings: Settings) -> PeerLimits:
        """Limiters over the database's counters with the configured limits."""
        activations = SharedLimiter(counters, "activation", settings.activation_limit_per_minute)
        bad = SharedLimiter(counters, "bad_signature", settings.bad_signature_limit_per_minute,
                            read_ttl=PEER_READ_TTL)  # fmt: skip
        return cls(activations, bad)


def peer(request: web.Request) -> str:
    """The source address the peer limits count against."""
    return request.remote or "unknown"


def too_many(wait: float, message: str) -> ApiError:
    """429 rate_limited with Retry-After in whole seconds."""
    return ApiError(429, "rate_limited", message, type_="rate_limit_error",
                    headers={"Retry-After": str(int(wait))})  # fmt: skip
