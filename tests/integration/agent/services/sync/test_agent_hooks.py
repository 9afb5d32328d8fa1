"""The agent's sync hook-ins: POST /api/sync, the sync block of /api/status, a sale kick, and the CLI
(`mpac-agent enroll`, `mpac-agent sync [--now] --json`) as subprocesses, against the real cloud (cloud/)."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import time
from pathlib import Path
from typing import Any

import aiosqlite
from aiohttp.test_utils import TestClient, TestServer

from agent.adapters.secrets import EnrolledDevice, SecretStore
from agent.adapters.store.database import migrate
from agent.bootstrap import build_app
from agent.settings import load_settings
from sync.testing.seed import seed_sales
from tests.integration.agent.sync_fixtures import RealCloud


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(f'[agent]\nstate_dir = "{tmp_path / "state"}"\nserial = "SN-T1"\n'
                    f"[web]\nport = {_free_port()}\n", encoding="utf-8")
    return path


async def _cli(*args: str) -> tuple[int, str, str]:
    pipe = asyncio.subprocess.PIPE
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "agent.entrypoints.cli", *args,
                                                stdout=pipe,
                                                stderr=pipe)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return int(proc.returncode or 0), out.decode(), err.decode()


class TestLocalApi:
    async def test_sale_is_kicked_up_and_sync_now_reports(self, tmp_path: Path,
                                                          cloud: RealCloud) -> None:
        """A cash sale reaches the cloud without waiting for the timer; /api/sync and /api/status say so."""
        settings = load_settings(overrides={"agent": {"state_dir": str(tmp_path)}})
        device = cloud.device
        SecretStore(tmp_path).save(EnrolledDevice(device.device_id, device.api_key, device.secret_key,
                                                  cloud_url=cloud.url))
        async with TestClient(TestServer(await build_app(settings))) as client:
            resp = await client.post("/api/sales", json={"amount": 1200, "payment_method": "cash",
                                                         "cash_received": 2000, "merchant_ref_id": "hook-1"})
            assert resp.status in (200, 201), await resp.text()
            async with asyncio.timeout(10):
                while not await cloud.intents(device.device_id):  # noqa: ASYNC110 -- bounded poll
                    await asyncio.sleep(0.02)
            now: dict[str, Any] = await (await client.post("/api/sync", json={})).json()
            status: dict[str, Any] = await (await client.get("/api/status")).json()
        assert now["object"] == "sync_result" and now["ok"] is True and now["pending"] == 0
        assert status["sync"]["enabled"] is True and status["sync"]["pending_count"] == 0
        assert status["sync"]["last_ack_at"] is not None and status["sync"]["connected"] is True

    async def test_sync_now_when_not_enrolled_is_a_clear_503(self, tmp_path: Path) -> None:
        """Without a credential POST /api/sync answers 503 with the docs/cloud-api.md error shape."""
        settings = load_settings(overrides={"agent": {"state_dir": str(tmp_path)}})
        async with TestClient(TestServer(await build_app(settings))) as client:
            resp = await client.post("/api/sync", json={})
            body = await resp.json()
        assert resp.status == 503 and body["error"]["code"] == "sync_unavailable"
        assert "enroll" in body["error"]["message"]


class TestCli:
    async def test_enroll_then_sync_now(self, tmp_path: Path, cloud: RealCloud) -> None:
        """`enroll` shows the admin password; a reused code exits 1; `sync --now` drains; `sync` reads."""
        first = await cloud.new_code()
        config = _config(tmp_path)
        code, out, _ = await _cli("enroll", "--config", str(config), "--cloud", cloud.url, "--code", first)
        enrolled = json.loads(out)
        assert code == 0 and len(enrolled["admin_password"]) >= 16
        code, _, err = await _cli("enroll", "--config", str(config), "--cloud", cloud.url, "--code", first)
        assert code == 1 and "already used" in err
        settings = load_settings(config)
        await migrate(settings.agent.db_path)
        conn = await aiosqlite.connect(settings.agent.db_path)
        await seed_sales(conn, 12, created_at=int(time.time() * 1000))
        await conn.close()
        code, _, err = await _cli("enroll", "--config", str(config), "--cloud", cloud.url, "--code",
                                  await cloud.new_code())
        assert code == 1 and "not synced yet" in err  # re-enrolling would orphan the 12 queued sales
        code, out, _ = await _cli("sync", "--now", "--json", "--config", str(config))
        report = json.loads(out)
        assert code == 0 and (report["via"], report["acked"], report["pending"]) == ("cli", 12, 0)
        code, out, _ = await _cli("sync", "--json", "--config", str(config))
        status = json.loads(out)
        assert status["enrolled"] is True and status["device_id"] == enrolled["device_id"]
        assert status["pending_count"] == 0 and status["last_ack_at"] is not None
        assert len(await cloud.intents(enrolled["device_id"])) == 12
