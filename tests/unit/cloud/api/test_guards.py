"""The rate limiter (the pure in-memory part of the API)."""

from __future__ import annotations

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

    def test_wait_counts_nothing_and_count_checks_nothing(self) -> None:
        """wait() only reads (a blocked key stays blocked, an allowed one is not counted); count() counts."""
        limiter = RateLimiter(2)
        assert limiter.wait("ip", 0.0) is None and limiter.wait("ip", 0.0) is None
        limiter.count("ip", 1.0)
        limiter.count("ip", 2.0)
        limiter.count("ip", 3.0)  # counted past the limit: failures are counted whatever happens
        wait = limiter.wait("ip", 4.0)
        assert wait is not None and 1 <= wait <= 60
        assert limiter.check("other", 4.0) is None

    def test_memory_is_bounded_when_every_key_is_busy(self) -> None:
        """Past max_keys the oldest counter gives way even when none is idle."""
        limiter = RateLimiter(1, max_keys=2)
        for key in ("a", "b", "c"):
            limiter.count(key, 10.0)
        assert limiter.wait("a", 10.0) is None  # forgotten
        assert limiter.wait("b", 10.0) is not None and limiter.wait("c", 10.0) is not None
