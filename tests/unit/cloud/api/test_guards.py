"""Rate limiter and replay cache (pure in-memory parts of the API)."""

from __future__ import annotations

from cloud.api.auth import ReplayCache
from cloud.api.ratelimit import RateLimiter


class TestRateLimiter:
    def test_allows_up_to_the_limit_then_says_when(self) -> None:
        """limit requests pass; the next one gets a wait within the window."""
        limiter = RateLimiter(3)
        assert [limiter.check("m", 120.0 + i) for i in range(3)] == [None, None, None]
        wait = limiter.check("m", 125.0)
        assert wait is not None and 1 <= wait <= 60

    def test_sliding_window_carries_part_of_the_previous_minute(self) -> None:
        """Right after a full minute the previous count still weighs; later it fades."""
        limiter = RateLimiter(10)
        for _ in range(10):
            assert limiter.check("m", 59.0) is None
        # At 61 s, 98% of the previous minute's 10 still count: one more fits (9.8 + 1), a second does not.
        assert limiter.check("m", 61.0) is None
        assert limiter.check("m", 61.0) is not None
        assert limiter.check("m", 115.0) is None  # only ~8% of the previous minute counts now

    def test_keys_are_independent_and_idle_ones_are_dropped(self) -> None:
        """Another key is unaffected; forget_idle bounds memory."""
        limiter = RateLimiter(1)
        assert limiter.check("a", 0.0) is None and limiter.check("a", 1.0) is not None
        assert limiter.check("b", 1.0) is None
        limiter.forget_idle(1000.0)
        assert limiter.check("a", 1000.0) is None


class TestReplayCache:
    def test_second_sighting_within_window_is_a_replay(self) -> None:
        """The same signature twice inside the window is seen; after two windows it is forgotten."""
        cache = ReplayCache(window=300)
        assert not cache.seen_before("sig", 0.0)
        assert cache.seen_before("sig", 10.0)
        assert not cache.seen_before("other", 10.0)
        assert not cache.seen_before("sig", 700.0)

    def test_bounded_size(self) -> None:
        """The oldest entries go first when the cache is full."""
        cache = ReplayCache(window=300, max_entries=2)
        for sig in ("a", "b", "c"):
            cache.seen_before(sig, 1.0)
        assert not cache.seen_before("a", 1.0)
