"""RateCounters and Leadership on the real databases (SQLite file, throwaway PostgreSQL): what must hold
across worker processes, shown with two independent storage stacks on one database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from cloud.api.app import sweep_once
from cloud.bootstrap import build_deps
from cloud.deps import Deps
from cloud.infrastructure.crypto import SecretBox
from cloud.infrastructure.sqlite.limits import LEASE_SECONDS, SqliteLeadership
from cloud.settings import Settings
from cloud.testing import SettableClock

W = 600  # a window start (Unix seconds, a multiple of 60)


@pytest.fixture
async def two(db_url: str) -> AsyncIterator[tuple[Deps, Deps]]:
    """Two storage stacks on one database, as two workers have (own connections, own writer or pool)."""
    settings = Settings(db_url=db_url, encryption_key=SecretBox.generate_key())
    a, b = build_deps(settings), build_deps(settings)
    await a.db.open()
    await b.db.open()
    yield a, b
    await b.db.close()
    await a.db.close()


class TestRateCounters:
    async def test_take_stops_at_the_limit_and_counts_per_key(self, two: tuple[Deps, Deps]) -> None:
        """Three of limit 3 pass, the fourth does not; another key has its own count."""
        counters = two[0].limits
        assert [await counters.take("m:a", W, 0.0, 3) for _ in range(4)] == [True, True, True, False]
        assert await counters.take("m:b", W, 0.0, 3)

    async def test_the_previous_window_weighs_in(self, two: tuple[Deps, Deps]) -> None:
        """10 last minute at weight 0.5 leave room for 5 - nothing else - this minute."""
        counters = two[0].limits
        for _ in range(10):
            await counters.add("m:a", W - 60)
        taken = [await counters.take("m:a", W, 0.5, 10) for _ in range(7)]
        assert taken == [True] * 5 + [False] * 2
        assert not await counters.take("m:c", W, 0.5, 0)  # no room at all: refused, nothing inserted

    async def test_concurrent_takes_of_two_workers_never_pass_the_limit(self, two: tuple[Deps, Deps]) -> None:
        """60 takes at once, split over two storage stacks, limit 25: exactly 25 are counted."""
        a, b = two
        results = await asyncio.gather(*(d.limits.take("m:x", W, 0.0, 25) for _ in range(30) for d in (a, b)))
        assert sum(results) == 25
        assert await b.limits.over("m:x", W, 0.0, 25)

    async def test_over_counts_nothing_and_add_counts_past_the_limit(self, two: tuple[Deps, Deps]) -> None:
        """over() only reads; add() counts even past the limit (failures always count)."""
        counters = two[0].limits
        for _ in range(3):
            assert not await counters.over("ip:1", W, 0.0, 3)
        for _ in range(4):
            await counters.add("ip:1", W)
        assert await two[1].limits.over("ip:1", W, 0.0, 3)
        assert not await counters.over("ip:1", W + 120, 1.0, 3)  # two windows later: nothing counts

    async def test_purge_drops_only_older_windows(self, two: tuple[Deps, Deps]) -> None:
        """purge(before) forgets the windows before it and keeps the rest."""
        counters = two[0].limits
        for window in (W - 120, W - 60, W):
            await counters.add("k", window)
        await counters.purge(W - 60)
        assert await counters.over("k", W - 60, 0.0, 1)  # still there
        assert not await counters.over("k", W - 120, 0.0, 1)


class TestLeadership:
    async def test_one_leader_at_a_time_then_the_other(self, two: tuple[Deps, Deps]) -> None:
        """While one worker leads a task the other is told no; once it is done the other may lead."""
        a, b = two
        async with a.leader.lead("sweeper") as first:
            async with b.leader.lead("sweeper") as second:
                assert (first, second) == (True, False)
            async with b.leader.lead("other-task") as unrelated:
                assert unrelated
        async with b.leader.lead("sweeper") as later:
            assert later

    async def test_the_sweep_runs_in_one_worker_per_tick(self, two: tuple[Deps, Deps], db_url: str) -> None:
        """While worker A holds the sweeper's lead, worker B's tick does nothing; alone, B sweeps."""
        a, b = two
        settings = Settings(db_url=db_url, encryption_key=SecretBox.generate_key())
        async with a.leader.lead("sweeper"):
            assert not await sweep_once(b, settings)
        assert await sweep_once(b, settings)


@pytest.mark.sqlite_only("a lease row on the SQLite file")
class TestSqliteLease:
    async def test_a_lease_left_by_a_dead_leader_runs_out(self, two: tuple[Deps, Deps]) -> None:
        """A leader killed mid-tick never gives its lease back: the task waits LEASE_SECONDS, no longer."""
        clock = SettableClock(1_000_000.0)
        dead = SqliteLeadership(two[0].db, clock, holder="dead")  # type: ignore[arg-type]
        live = SqliteLeadership(two[1].db, clock, holder="live")  # type: ignore[arg-type]
        cm = dead.lead("sweeper")
        assert await cm.__aenter__()  # entered and never left: the process died
        async with live.lead("sweeper") as leading:
            assert not leading
        clock.advance(LEASE_SECONDS + 1)
        async with live.lead("sweeper") as leading:
            assert leading
