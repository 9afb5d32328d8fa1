"""The log limiter: first line per key, repeats counted, one line with the count per interval."""

from __future__ import annotations

import logging

import pytest

from drivers.lograte import LogLimiter


@pytest.fixture
def clock() -> list[float]:
    return [100.0]


@pytest.fixture
def limiter(clock: list[float]) -> LogLimiter:
    return LogLimiter(logging.getLogger("test.lograte"), interval_s=60.0, clock=lambda: clock[0])


class TestLogLimiter:
    def test_first_line_logged_repeats_counted(
        self, limiter: LogLimiter, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Of 5,000 repeats within the interval only the first is written; the rest are counted."""
        caplog.set_level(logging.INFO, "test.lograte")
        logged = [limiter.log(logging.INFO, "junk", "junk line %d", n) for n in range(5000)]
        assert logged.count(True) == 1 and [r.getMessage() for r in caplog.records] == ["junk line 0"]
        assert limiter.suppressed("junk") == 4999

    def test_after_the_interval_one_line_with_the_count(
        self, limiter: LogLimiter, clock: list[float], caplog: pytest.LogCaptureFixture
    ) -> None:
        """The first repeat after the interval is written with the held-back count; counting restarts."""
        caplog.set_level(logging.INFO, "test.lograte")
        for _ in range(10):
            limiter.log(logging.WARNING, "junk", "junk")
        clock[0] += 60.0
        assert limiter.log(logging.WARNING, "junk", "junk")
        assert caplog.records[-1].getMessage() == "junk (9 more suppressed in the last 60 s)"
        assert caplog.records[-1].levelno == logging.WARNING and limiter.suppressed("junk") == 0
        clock[0] += 60.0
        limiter.log(logging.WARNING, "junk", "junk")
        assert caplog.records[-1].getMessage() == "junk"

    def test_keys_are_independent(self, limiter: LogLimiter, caplog: pytest.LogCaptureFixture) -> None:
        """A flood of one key does not hold back another key's first line."""
        caplog.set_level(logging.INFO, "test.lograte")
        for _ in range(100):
            limiter.log(logging.INFO, "a", "a")
        limiter.log(logging.INFO, "b", "b")
        assert [r.getMessage() for r in caplog.records] == ["a", "b"]
