"""doctor's pure judgements: clock offset against the HMAC window, queue usage against the offline caps."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.entrypoints.doctor import CloudTime, check_clock, check_queue
from agent.settings import Settings, load_settings


def _settings(tmp_path: Path) -> Settings:
    return load_settings(
        overrides={
            "agent": {"state_dir": str(tmp_path)},
            "offline": {"max_count": 10, "max_total_amount": 1000, "max_age_hours": 1},
        }
    )


class TestClock:
    def test_offsets_measured_now(self) -> None:
        """Within 60 s ok; beyond 60 s warn; beyond the 300 s signing window fail."""
        assert check_clock(CloudTime(5.0)).status == "ok"
        assert check_clock(CloudTime(-90.0)).status == "warn"
        assert check_clock(CloudTime(301.0)).status == "fail"
        assert check_clock(CloudTime(5.0)).detail == "+5.0 s from the cloud"

    @pytest.mark.parametrize("reason", ["not enrolled", "unreachable"])
    def test_no_cloud_claims_no_cloud_offset(self, reason: str) -> None:
        """Without a cloud reached now the line says so; it never claims an offset "from the cloud"."""
        check = check_clock(CloudTime(None, reason))
        assert (check.status, check.detail) == ("ok", f"plausible; no cloud to compare ({reason})")

    def test_last_sync_offset_is_only_mentioned(self) -> None:
        """The offset stored at the last sync is named as such; past the signing window it only warns."""
        check = check_clock(CloudTime(None, "unreachable"), 2_500)
        assert check.detail.endswith("last known offset +2.5 s at last sync")
        assert "from the cloud" not in check.detail and check.status == "ok"
        assert check_clock(CloudTime(None, "unreachable"), 400_000).status == "warn"
        assert check_clock(CloudTime(1.0), 400_000).status == "ok"  # a measurement now wins


class TestQueue:
    def test_caps(self, tmp_path: Path) -> None:
        """Under 80 % ok; 80 % of any cap or a quarantined item warns; a reached cap fails."""
        s = _settings(tmp_path)
        assert check_queue(s, {"pending_count": 1, "pending_amount": {"JPY": 100}}).status == "ok"
        assert check_queue(s, {"pending_count": 8, "pending_amount": {}}).status == "warn"
        assert check_queue(s, {"pending_count": 1, "pending_amount": {"JPY": 1000}}).status == "fail"
        assert check_queue(s, {"pending_count": 1, "oldest_pending_age_s": 3600}).status == "fail"
        assert check_queue(s, {"pending_count": 0, "quarantined_count": 2}).status == "warn"
