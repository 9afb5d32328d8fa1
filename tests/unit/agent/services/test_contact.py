"""The sync service's "online": the last real contact with the cloud (docs/sync-protocol.md, "Online")."""

from __future__ import annotations

from agent.services.sync import ONLINE_WINDOW_MS, Contact


class Clock:
    """A settable clock in unix ms."""

    def __init__(self) -> None:
        self.now = 1_000_000

    def __call__(self) -> int:
        return self.now


class TestContact:
    """Online means: the cloud answered within the window and nothing failed after it."""

    def test_never_contacted_is_not_online(self) -> None:
        """Before any answer the terminal is not online."""
        assert Contact(Clock()).online() is False

    def test_answer_makes_online_until_the_window_passes(self) -> None:
        """An answer counts for ONLINE_WINDOW_MS, then no longer."""
        clock = Clock()
        contact = Contact(clock)
        contact.reached()
        assert contact.online() is True
        clock.now += ONLINE_WINDOW_MS + 1
        assert contact.online() is False

    def test_a_failure_after_the_answer_is_offline(self) -> None:
        """A failed attempt after the last answer means offline, a later answer online again."""
        clock = Clock()
        contact = Contact(clock)
        contact.reached()
        clock.now += 10
        contact.lost()
        assert contact.online() is False
        clock.now += 10
        contact.reached()
        assert contact.online() is True

    def test_fresh_reports_any_recent_attempt(self) -> None:
        """fresh() is what keeps the periodic probe quiet while batches already prove contact."""
        clock = Clock()
        contact = Contact(clock)
        assert contact.fresh(1000) is False
        contact.lost()
        assert contact.fresh(1000) is True
        clock.now += 1000
        assert contact.fresh(1000) is False
