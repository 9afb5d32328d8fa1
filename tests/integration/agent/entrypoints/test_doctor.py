"""`mpac-agent doctor` over real files and a real agent on loopback: every line is about the configuration
being checked: no cloud offset without a cloud reached now, no other configuration's agent taken for it."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from dataclasses import asdict
from pathlib import Path
from typing import Any

from agent.entrypoints.doctor import Check, run_checks
from agent.entrypoints.status import collect_status
from agent.settings import Settings
from tests.e2e.agent.process import closed_port
from tests.integration.agent.conftest import MakeClient, make_settings

CREDENTIAL = {"device_id": "dev_doctor", "api_key": "pk_dev_doctor", "secret_key": "sk_dev_doctor_secret"}


def _by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


async def _doctor(settings: Settings) -> tuple[dict[str, Check], bool]:
    """run_checks in a thread: it asks the agent with blocking urllib while this loop serves that agent."""
    checks, running = await asyncio.to_thread(run_checks, lambda: settings, None)
    return _by_name(checks), running


async def _database_with_offset(make_client: MakeClient, folder: Path, offset_ms: int) -> None:
    """A migrated agent database whose last sync recorded a clock offset."""
    client = await make_client(folder=folder)
    await client.close()
    with sqlite3.connect(folder / "agent.sqlite3") as conn:
        conn.execute("INSERT OR REPLACE INTO sync_meta (key, value, updated_at) VALUES (?, ?, 0)",
                     ("clock_offset_ms", json.dumps(offset_ms)))


class TestClockLine:
    async def test_not_enrolled_claims_no_cloud_offset(self, make_client: MakeClient, tmp_path: Path) -> None:
        """Not enrolled: the cloud is not checked and the clock line says there is no cloud to compare."""
        await _database_with_offset(make_client, tmp_path / "s", 1_500)
        checks, _ = await _doctor(make_settings(tmp_path / "s"))
        assert checks["cloud"].detail == "not checked (not enrolled)"
        assert checks["clock"].detail.startswith("plausible; no cloud to compare (not enrolled)")
        assert "from the cloud" not in checks["clock"].detail
        assert checks["clock"].detail.endswith("last known offset +1.5 s at last sync")

    async def test_unreachable_cloud_claims_no_cloud_offset(
            self, make_client: MakeClient, tmp_path: Path) -> None:
        """Enrolled but the cloud does not answer: warning, and no offset measured "from the cloud"."""
        await _database_with_offset(make_client, tmp_path / "s", 0)
        settings = make_settings(tmp_path / "s", {"cloud": {"url": f"http://127.0.0.1:{closed_port()}",
                                                            **CREDENTIAL}})
        checks, _ = await _doctor(settings)
        assert checks["cloud"].status == "warn" and "unreachable" in checks["cloud"].detail
        assert checks["clock"].detail.startswith("plausible; no cloud to compare (unreachable)")
        assert "from the cloud" not in checks["clock"].detail


class TestWhichAgent:
    async def test_another_configurations_agent_is_named_not_used(
            self, make_client: MakeClient, tmp_path: Path) -> None:
        """Another state dir's agent on this config's port is a warning; its figures are not this one's."""
        client = await make_client(folder=tmp_path / "a")
        for _ in range(2):
            body = {"amount": 100, "payment_method": "cash", "cash_received": 100}
            assert (await client.post("/api/sales", json=body)).status == 201
        port = client.server.port
        other = make_settings(tmp_path / "b", {"web": {"port": port}, "agent": {"serial": "OTHER-9"}})
        (tmp_path / "b").mkdir()

        checks, running = await _doctor(other)
        assert not running
        assert checks["agent"].status == "warn"
        assert checks["agent"].detail == f"another agent (serial IT-1) answers on port {port}"
        status: dict[str, Any] = await asyncio.to_thread(collect_status, other, False)
        assert status["source"] != "agent" and status["pending_count"] == 0
        assert "another agent (serial IT-1)" in status["other_agent"]

        own = make_settings(tmp_path / "a", {"web": {"port": port}})
        checks, running = await _doctor(own)
        assert running and checks["agent"].status == "ok"
        mine = await asyncio.to_thread(collect_status, own, False)
        assert mine["source"] == "agent" and mine["pending_count"] == 2
        assert all(asdict(c) for c in checks.values())
