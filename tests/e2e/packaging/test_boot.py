"""A boot test: systemd-nspawn boots the Debian 12 root with the .deb installed, systemd as PID 1. The probe
(boot_probe.py, run inside as a unit) drives the agent's unit; this test checks what it saw."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.packaging.conftest import CACHE, fresh_root, install, require, run

HERE = Path(__file__).resolve().parent
PROBE_UNIT = """[Unit]
Description=mpac-agent boot test probe
After=multi-user.target mpac-agent.service

[Service]
Type=oneshot
ExecStart=/usr/bin/python3 /usr/local/bin/mpac-probe.py
TimeoutStartSec=400

[Install]
WantedBy=multi-user.target
"""
# Test speed only: the freeze is noticed after 6 s instead of the shipped 20 s.
WATCHDOG_DROPIN = "[Service]\nWatchdogSec=6s\nTimeoutAbortSec=4s\n"
# A card reader that is not plugged in: the agent must still start and sell cash.
SITE_CONFIG = '\n[agent]\nserial = "BOOT-1"\n\n[devices.card_reader]\npath = "/dev/mpac/card-reader"\n'


@pytest.fixture(scope="module")
def probe(deb: Path, rootfs_tar: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Install the .deb, add the probe, boot; what the probe wrote to /probe.json."""
    require("systemd-nspawn")
    root = fresh_root(rootfs_tar, tmp_path_factory.mktemp("boot") / "root")
    try:
        install(root, deb)
        (root / "usr" / "sbin" / "policy-rc.d").unlink()  # from here on, services may start
        shutil.copy(HERE / "boot_probe.py", root / "usr" / "local" / "bin" / "mpac-probe.py")
        units = root / "etc" / "systemd" / "system"
        (units / "mpac-probe.service").write_text(PROBE_UNIT, encoding="utf-8")
        (units / "multi-user.target.wants" / "mpac-probe.service").symlink_to("../mpac-probe.service")
        (units / "mpac-agent.service.d").mkdir()
        (units / "mpac-agent.service.d" / "watchdog-test.conf").write_text(WATCHDOG_DROPIN, encoding="utf-8")
        config = root / "etc" / "mpac-agent" / "agent.toml"
        config.write_text(config.read_text(encoding="utf-8") + SITE_CONFIG, encoding="utf-8")
        boot = run("systemd-nspawn", "-b", "-q", "--register=no", "--keep-unit", "--private-network",
                   "-D", root, timeout=480, check=False)
        result = root / "probe.json"
        if not result.exists():
            pytest.skip(f"systemd-nspawn could not boot the root here (exit {boot.returncode}): "
                        f"{(boot.stdout + boot.stderr)[-1500:]}")
        shutil.copy(result, CACHE / "last-boot-probe.json")  # kept for a look after a failure
        found: dict[str, Any] = json.loads(result.read_text(encoding="utf-8"))
        print(json.dumps({k: found.get(k) for k in ("start_to_ready_s", "idle_rss_kib", "nrestarts")}))
        return found
    finally:
        shutil.rmtree(root, ignore_errors=True)


class TestBoot:
    def test_probe_ran_without_errors(self, probe: dict[str, Any]) -> None:
        """The probe finished every step."""
        assert probe["errors"] == [], probe

    def test_unit_reaches_active_with_ready(self, probe: dict[str, Any]) -> None:
        """The unit is active after boot and after `systemctl start` (Type=notify: READY=1 was seen)."""
        assert probe["booted_active"] and probe["start_rc"] == 0
        after = probe["after_start"]
        assert (after["ActiveState"], after["SubState"], after["User"]) == ("active", "running", "mpac-agent")
        assert "pending sync" in after["StatusText"]

    def test_cash_sale_over_the_local_api(self, probe: dict[str, Any]) -> None:
        """A cash sale is taken (201) although the configured card reader is not plugged in."""
        status, body = probe["sale"]
        assert status == 201, body

    def test_sigkill_restarts_with_the_sale_kept(self, probe: dict[str, Any]) -> None:
        """After `systemctl kill -s SIGKILL` the unit is back with a new PID and the sale is still there."""
        assert probe["restarted_after_kill"] and probe["sale_after_kill"] == 200

    def test_frozen_agent_is_restarted_by_the_watchdog(self, probe: dict[str, Any]) -> None:
        """SIGSTOP: no WATCHDOG=1 any more, systemd logs a watchdog timeout and restarts the agent."""
        assert probe["restarted_after_freeze"] and probe["watchdog_logged"]
        assert probe["sale_after_freeze"] == 200 and int(probe["nrestarts"]) >= 2

    def test_stop_is_clean_with_stopping_seen(self, probe: dict[str, Any]) -> None:
        """`systemctl stop`: STOPPING=1 reaches systemd, the agent logs a clean stop and exits 0."""
        after = probe["after_stop"]
        assert after["ActiveState"] == "inactive" and after["Result"] == "success", after
        assert after["ExecMainStatus"] == "0"
        assert probe["stopping_seen"] and probe["stopped_cleanly_logged"]

    def test_bad_config_names_the_key_and_does_not_loop(self, probe: dict[str, Any]) -> None:
        """An unknown key: the unit fails (exit 2, no restart loop), the key named in journal and status."""
        assert probe["bad_config"]["ActiveState"] == "failed" and probe["bad_config"]["ExecMainStatus"] == "2"
        assert "store.bogus_key" in probe["bad_config_journal"]
        assert "store.bogus_key" in probe["bad_config_status"]
        assert "Traceback" not in probe["bad_config_journal"]

    def test_doctor_names_the_missing_node_and_checks_the_install(self, probe: dict[str, Any]) -> None:
        """doctor names the absent card reader node with the fix, and finds the state directory in order."""
        doctor = probe["doctor"]
        assert "udev:card_reader" in doctor and "/dev/mpac/card-reader is missing" in doctor
        assert "udevadm trigger" in doctor
        assert "✓ state_owner" in doctor and "time_sync" in doctor

    def test_idle_figures(self, probe: dict[str, Any]) -> None:
        """Figures for the closing note, bounded generously (goals: <= 60 MB idle RSS, <= 1.5 s to READY)."""
        assert 0 < probe["idle_rss_kib"] < 150 * 1024
        assert probe["start_to_ready_s"] < 30
