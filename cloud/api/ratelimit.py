"""Request rate limits (docs/cloud-api.md#rate-limits): per merchant, and per source address for device
activation and for requests whose signature is wrong.

The counters live in memory, per process, behind the small `Limiter` interface; a later issue (12) moves them
into the database so that every worker shares them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from cloud.api.errors import ApiError
from cloud.settings import Settings

WINDOW = 60.0
MAX_KEYS = 100_000  # counters kept per limiter before idle ones are dropped (many source addresses)


class Limiter(Protocol):
    """Counts events per key over a sliding minute."""

    def check(self, key: str, now: float) -> float | None:
        """Count one event; None if allowed, else the seconds to wait (Retry-After)."""

    def wait(self, key: str, now: float) -> float | None:
        """The seconds to wait if `key` is over its limit now, without counting; None if it is not."""

    def count(self, key: str, now: float) -> None:
        """Count one event without checking."""

    def forget_idle(self, now: float) -> None:
        """Drop counters idle for two windows (bounded memory)."""


@dataclass(slots=True)
class _Counter:
    window_start: float
    current: int = 0
    previous: int = 0


class RateLimiter:
    """Allows `limit` events per minute per key; estimates the sliding count from two fixed windows."""

    def __init__(self, limit: int, max_keys: int = MAX_KEYS) -> None:
        self.limit = limit
        self._max_keys = max_keys
        self._counters: dict[str, _Counter] = {}

    def check(self, key: str, now: float) -> float | None:
        """Count one event; None if allowed, else the seconds to wait (Retry-After)."""
        wait = self.wait(key, now)
        if wait is None:
            self.count(key, now)
        return wait

    def wait(self, key: str, now: float) -> float | None:
        """The seconds to wait if `key` is over its limit now (counts nothing)."""
        counter = self._counters.get(key)
        if counter is None:
            return None
        start = self._roll(counter, now)
        weight = 1.0 - (now - start) / WINDOW
        if counter.previous * weight + counter.current >= self.limit:
            return max(1.0, math.ceil(start + WINDOW - now))
        return None

    def count(self, key: str, now: float) -> None:
        """Count one event."""
        counter = self._counters.get(key)
        if counter is None:
            if len(self._counters) >= self._max_keys:
                self.forget_idle(now)
            if len(self._counters) >= self._max_keys:  # all busy: the oldest gives way, memory stays bounded
                del self._counters[next(iter(self._counters))]
            counter = self._counters[key] = _Counter(now - now % WINDOW)
        self._roll(counter, now)
        counter.current += 1

    def forget_idle(self, now: float) -> None:
        """Drop counters idle for two windows (bounded memory)."""
        cutoff = now - 2 * WINDOW
        for key in [k for k, c in self._counters.items() if c.window_start < cutoff]:
            del self._counters[key]

    @staticmethod
    def _roll(counter: _Counter, now: float) -> float:
        """Move the counter into the current fixed window; return that window's start."""
        start = now - now % WINDOW
        if counter.window_start != start:
            gap = start - counter.window_start
            counter.previous = counter.current if gap == WINDOW else 0
            counter.current, counter.window_start = 0, start
        return start


@dataclass(frozen=True, slots=True)
class PeerLimits:
    """The limits keyed by source address (request.remote; no X-Forwarded-For is trusted)."""

    activations: Limiter
    bad_signatures: Limiter

    @classmethod
    def in_memory(cls, settings: Settings) -> PeerLimits:
        """In-memory limiters with the configured limits."""
        return cls(RateLimiter(settings.activation_limit_per_minute),
                   RateLimiter(settings.bad_signature_limit_per_minute))  # fmt: skip

    def forget_idle(self, now: float) -> None:
        """Drop idle counters of both limiters."""
        self.activations.forget_idle(now)
        self.bad_signatures.forget_idle(now)


def peer(request: web.Request) -> str:
    """The source address the peer limits count against."""
    return request.remote or "unknown"


def too_many(wait: float, message: str) -> ApiError:
    """429 rate_limited with Retry-After in whole seconds."""
    return ApiError(429, "rate_limited", message, type_="rate_limit_error",
                    headers={"Retry-After": str(int(wait))})  # fmt: skip
