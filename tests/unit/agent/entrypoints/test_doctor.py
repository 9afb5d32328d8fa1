"""doctor's pure judgements: clock offset against the HMAC window, queue usage against the offline caps."""

from __future__ import annotations

from pathlib import Path

from agent.entrypoints.doctor import check_clock, check_queue
from agent.settings import Settings, load_settings


def _settings(tmp_path: Path) -> Settings:
    return load_settings(
        overrides={
            "agent": {"state_dir": str(tmp_path)},
            "offline": {"max_count": 10, "max_total_amount": 1000, "max_age_hours": 1},
        }
    )


class TestClock:
    def test_offsets(self) -> None:
        """Within 60 s ok; beyond 60 s warn; beyond the 300 s signing window fail; sync's offset is used."""
        assert check_clock(5.0, None).status == "ok"
        assert check_clock(-90.0, None).status == "warn"
        assert check_clock(301.0, None).status == "fail"
        assert check_clock(None, 400_000).status == "fail"
        assert check_clock(None, None).status == "ok"


class TestQueue:
    def test_caps(self, tmp_path: Path) -> None:
        """Under 80 % ok; 80 % of any cap or a quarantined item warns; a reached cap fails."""
        s = _settings(tmp_path)
        assert check_queue(s, {"pending_count": 1, "pending_amount": {"JPY": 100}}).status == "ok"
        assert check_queue(s, {"pending_count": 8, "pending_amount": {}}).status == "warn"
        assert check_queue(s, {"pending_count": 1, "pending_amount": {"JPY": 1000}}).status == "fail"
        assert check_queue(s, {"pending_count": 1, "oldest_pending_age_s": 3600}).status == "fail"
        assert check_queue(s, {"pending_count": 0, "quarantined_count": 2}).status == "warn"
