"""Per-merchant request rate limit (sliding window over two fixed one-minute windows, in memory)."""

from __future__ import annotations

import math
from dataclasses import dataclass

WINDOW = 60.0


@dataclass(slots=True)
class _Counter:
    window_start: float
    current: int = 0
    previous: int = 0


class RateLimiter:
    """Allows `limit` requests per minute per key; estimates the sliding count from two windows."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._counters: dict[str, _Counter] = {}

    def check(self, key: str, now: float) -> float | None:
        """Count one request; None if allowed, else the seconds to wait (Retry-After)."""
        start = now - now % WINDOW
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = _Counter(start)
        elif counter.window_start != start:
            gap = start - counter.window_start
            counter.previous = counter.current if gap == WINDOW else 0
            counter.current, counter.window_start = 0, start
        weight = 1.0 - (now - start) / WINDOW
        if counter.previous * weight + counter.current >= self.limit:
            return max(1.0, math.ceil(start + WINDOW - now))
        counter.current += 1
        return None

    def forget_idle(self, now: float) -> None:
        """Drop counters idle for two windows (bounded memory)."""
        cutoff = now - 2 * WINDOW
        for key in [k for k, c in self._counters.items() if c.window_start < cutoff]:
            del self._counters[key]
