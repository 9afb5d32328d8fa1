"""The per-intent throttle of provider reads on retrieve (docs/cloud-api.md, the provider's outcome)."""

from __future__ import annotations

from cloud.service.provider_poll import PollThrottle


class TestPollThrottle:
    def test_one_read_per_intent_per_interval(self) -> None:
        """The first ask of an intent is admitted, the next within the interval is not, after it again."""
        throttle = PollThrottle(interval_s=1.0)
        assert throttle.admit("pi_a", 100.0)
        assert not throttle.admit("pi_a", 100.9)
        assert throttle.admit("pi_b", 100.9)
        assert throttle.admit("pi_a", 101.0)

    def test_a_noted_read_counts(self) -> None:
        """A read made outside the throttle (before a cancel) spends the intent's interval too."""
        throttle = PollThrottle(interval_s=1.0)
        throttle.note("pi_a", 5.0)
        assert not throttle.admit("pi_a", 5.5)

    def test_memory_is_bounded(self) -> None:
        """Past max_tracked the oldest intents are forgotten, and reads older than the interval go first."""
        throttle = PollThrottle(interval_s=1.0, max_tracked=3)
        for i in range(10):
            throttle.admit(f"pi_{i}", 50.0)
        assert len(throttle) == 3
        assert throttle.admit("pi_9", 51.5) and len(throttle) == 1
