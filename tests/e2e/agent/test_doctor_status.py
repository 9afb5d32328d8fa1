"""`mpac-agent doctor` / `mpac-agent status` as real commands: the real cloud (`python -m cloud.cli serve`), a
real `mpac-agent enroll`, the agent running or stopped, real files (missing device, corrupt database)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.agent.conftest import StartAgent
from tests.e2e.agent.enroll import cli, enrolled_config
from tests.e2e.agent.process import closed_port
from tests.e2e.web.real_cloud import RealCloudProcess


def doctor(config: Path) -> tuple[int, dict[str, Any]]:
    """doctor --json → (exit code, {check name: check})."""
    code, out = cli("doctor", "--config", str(config), "--json")
    body = json.loads(out)
    assert body["ok"] is (code == 0)
    return code, {c["name"]: c for c in body["checks"]} | {"_running": body["agent_running"]}


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[RealCloudProcess]:
    """The real cloud on a free loopback port."""
    proc = RealCloudProcess(tmp_path / "cloud").start()
    try:
        yield proc
    finally:
        proc.stop()


class TestDoctor:
    def test_healthy_terminal_passes_and_never_prints_the_secret(
        self, tmp_path: Path, cloud: RealCloudProcess
    ) -> None:
        """Enrolled, cloud up, DB migrated: exit 0, every check ok; the human output holds no secret."""
        config = enrolled_config(tmp_path, cloud)
        code, checks = doctor(config)
        assert code == 0, checks
        assert checks["enrollment"]["status"] == "ok" and checks["cloud"]["status"] == "ok"
        assert checks["clock"]["status"] == "ok" and "from the cloud" in checks["clock"]["detail"]
        human_code, human = cli("doctor", "--config", str(config))
        assert human_code == 0 and "✓ enrollment" in human and "sk_" not in human

    def test_missing_device_fails_with_a_hint_and_cloud_down_only_warns(
        self, tmp_path: Path, cloud: RealCloudProcess
    ) -> None:
        """A configured scanner path that does not exist → ✗ with a hint, exit 1; cloud down → warning."""
        config = enrolled_config(tmp_path, cloud)
        cloud.stop()
        code, checks = doctor(config)
        assert code == 0 and checks["cloud"]["status"] == "warn"  # offline: cash and card still work
        text = config.read_text(encoding="utf-8")
        config.write_text(
            text + f'[devices.scanner]\ntransport = "serial"\npath = "{tmp_path}/no-such-tty"\n',
            encoding="utf-8",
        )
        code, checks = doctor(config)
        assert code == 1
        assert checks["device:scanner"]["status"] == "fail" and "plug" in checks["device:scanner"]["hint"]

    def test_not_enrolled_and_corrupt_database_fail(self, tmp_path: Path, agent_process: StartAgent) -> None:
        """No credential → enrollment ✗; a database overwritten with garbage → database ✗."""
        agent = agent_process({"web": {"host": "127.0.0.1", "port": closed_port()}}, folder=tmp_path)
        agent.stop()
        code, checks = doctor(agent.config)
        assert code == 1 and checks["enrollment"]["status"] == "fail"
        assert checks["database"]["status"] == "ok"
        db = tmp_path / "state" / "agent.sqlite3"
        data = bytearray(db.read_bytes())
        data[100:4096] = os.urandom(3996)  # the schema page
        db.write_bytes(bytes(data))
        code, checks = doctor(agent.config)
        assert code == 1 and checks["database"]["status"] == "fail"

    def test_bad_config_fails_first(self, tmp_path: Path) -> None:
        """A config that does not load is the one failed check (the rest need it)."""
        bad = tmp_path / "bad.toml"
        bad.write_text("[offline]\nmax_count = -1\n", encoding="utf-8")
        code, checks = doctor(bad)
        assert code == 1 and checks["config"]["status"] == "fail" and len(checks) == 2


class TestStatus:
    def test_from_the_running_agent_then_from_the_database(
        self, tmp_path: Path, cloud: RealCloudProcess, agent_process: StartAgent
    ) -> None:
        """A sale made while the cloud is down is pending: status says so live, and again from the DB."""
        config = enrolled_config(tmp_path, cloud)
        cloud.stop()
        agent = agent_process(config=config, folder=tmp_path)
        status, sale = agent.call(
            "POST", "/api/sales", {"amount": 4321, "payment_method": "cash", "cash_received": 5000}
        )
        assert status == 201, sale
        code, out = cli("status", "--config", str(config), "--json")
        live = json.loads(out)
        assert code == 0 and (live["source"], live["agent_running"], live["enrolled"]) == (
            "agent",
            True,
            True,
        )
        assert (live["pending_count"], live["pending_amount"]) == (1, {"JPY": 4321})
        doctor_code, checks = doctor(config)
        assert checks["_running"] is True and doctor_code == 0
        agent.stop()
        code, out = cli("status", "--config", str(config), "--json")
        stored = json.loads(out)
        assert code == 0 and (stored["source"], stored["agent_running"]) == ("database", False)
        assert (stored["pending_count"], stored["pending_amount"]) == (1, {"JPY": 4321})
        assert stored["oldest_pending_at"] == sale["created_at"]
        code, human = cli("status", "--config", str(config))
        assert code == 0 and "1 sales, ¥4,321" in human
