"""The rate limiter's window arithmetic over the in-memory counters (the database adapters keep the same
contract: tests/integration/cloud/infrastructure/test_limits.py)."""

from __future__ import annotations

from cloud.api.ratelimit import SharedLimiter, stale_windows
from cloud.fakes import InMemoryRateCounters


def limiter(limit: int) -> SharedLimiter:
    return SharedLimiter(InMemoryRateCounters(), "t", limit)


class TestSharedLimiter:
    async def test_allows_up_to_the_limit_then_says_when(self) -> None:
        """limit requests pass; the next one gets a wait within the window."""
        lim = limiter(3)
        assert [await lim.check("m", 120.0 + i) for i in range(3)] == [None, None, None]
        wait = await lim.check("m", 125.0)
        assert wait is not None and 1 <= wait <= 60

    async def test_sliding_window_carries_part_of_the_previous_minute(self) -> None:
        """Right after a full minute the previous count still weighs; later it fades."""
        lim = limiter(10)
        for _ in range(10):
            assert await lim.check("m", 59.0) is None
        # At 61 s, 98% of the previous minute's 10 still count: one more fits (9.8 + 1), a second does not.
        assert await lim.check("m", 61.0) is None
        assert await lim.check("m", 61.0) is not None
        assert await lim.check("m", 115.0) is None  # only ~8% of the previous minute counts now

    async def test_keys_are_independent(self) -> None:
        """Another key is unaffected; two minutes later the key is free again."""
        lim = limiter(1)
        assert await lim.check("a", 0.0) is None and await lim.check("a", 1.0) is not None
        assert await lim.check("b", 1.0) is None
        assert await lim.check("a", 130.0) is None

    async def test_limiters_on_one_store_count_apart(self) -> None:
        """Two limiters sharing the counters (merchant, activation) never add up each other's events."""
        counters = InMemoryRateCounters()
        a, b = SharedLimiter(counters, "a", 1), SharedLimiter(counters, "b", 1)
        assert await a.check("k", 0.0) is None and await b.check("k", 0.0) is None

    async def test_wait_counts_nothing_and_count_checks_nothing(self) -> None:
        """wait() only reads (a blocked key stays blocked, an allowed one is not counted); count() counts."""
        lim = limiter(2)
        assert await lim.wait("ip", 0.0) is None and await lim.wait("ip", 0.0) is None
        for t in (1.0, 2.0, 3.0):  # counted past the limit: failures are counted whatever happens
            await lim.count("ip", t)
        wait = await lim.wait("ip", 4.0)
        assert wait is not None and 1 <= wait <= 60
        assert await lim.check("other", 4.0) is None

    async def test_purge_keeps_the_windows_still_read(self) -> None:
        """stale_windows() drops only windows older than the previous one."""
        counters = InMemoryRateCounters()
        lim = SharedLimiter(counters, "t", 1)
        for t in (0.0, 60.0, 120.0):
            await lim.count("k", t)
        await counters.purge(stale_windows(130.0))
        assert sorted(w for _, w in counters.counts) == [60, 120]

    async def test_a_read_ttl_spares_the_database_but_sees_counts_soon(self) -> None:
        """With read_ttl, "under the limit" is remembered that long: another worker's counts show once it
        passes, this limiter's own count at once."""
        counters = InMemoryRateCounters()
        here = SharedLimiter(counters, "t", 2, read_ttl=1.0)
        there = SharedLimiter(counters, "t", 2)
        assert await here.wait("ip", 10.0) is None
        await there.count("ip", 10.1)
        await there.count("ip", 10.2)
        assert await here.wait("ip", 10.5) is None  # remembered: no read within the second
        assert await here.wait("ip", 11.1) is not None  # read again: over
        fresh = SharedLimiter(counters, "u", 1, read_ttl=60.0)
        assert await fresh.wait("ip", 0.0) is None
        await fresh.count("ip", 0.5)
        assert await fresh.wait("ip", 1.0) is not None  # its own count forgot what it remembered
