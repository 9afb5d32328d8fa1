"""Enrollment against the real cloud's activation endpoint, then "sync now" through the SyncService."""

from __future__ import annotations

import time
from pathlib import Path

import aiosqlite
import pytest

from agent.adapters.secrets import CREDENTIAL_FILE, SecretStore, resolve_credential, verify_password
from agent.adapters.store.database import AgentDatabase, migrate
from agent.entrypoints.enroll import enroll
from agent.services.sync import SyncService
from agent.settings import load_settings
from sync.errors import EnrollmentError
from sync.testing.seed import seed_sales
from tests.integration.agent.sync_fixtures import RealCloud


class TestEnrollment:
    async def test_enroll_stores_an_encrypted_working_credential(self, tmp_path: Path,
                                                                 cloud: RealCloud) -> None:
        """A valid code yields a credential stored encrypted and an admin password that verifies."""
        code = await cloud.new_code()
        store = SecretStore(tmp_path / "state")
        result = await enroll(store, cloud.url, code, "SN-1", "A920")
        loaded = store.load()
        assert loaded is not None and loaded.device_id == result.device.device_id
        assert loaded.secret_key.encode() not in (tmp_path / "state" / CREDENTIAL_FILE).read_bytes()
        assert verify_password(loaded.admin_password_hash, result.admin_password)
        assert "secret" not in str(result.to_json())

    @pytest.mark.parametrize(("setup", "message"), [
        ("none", "unknown"), ("used", "already used"), ("expired", "expired")])
    async def test_refusals_have_clear_messages(self, tmp_path: Path, cloud: RealCloud, setup: str,
                                                message: str) -> None:
        """404 / 409 / 410 become messages a technician can act on; nothing is stored."""
        code = "CODE2345ABCD" if setup == "none" else await cloud.new_code(-1 if setup == "expired" else 3600)
        if setup == "used":
            await enroll(SecretStore(tmp_path / "other"), cloud.url, code, "SN-0", "A920")
        store = SecretStore(tmp_path / "state")
        with pytest.raises(EnrollmentError, match=message):
            await enroll(store, cloud.url, code, "SN-1", "A920")
        assert store.load() is None

    async def test_unreachable_cloud(self, tmp_path: Path, cloud: RealCloud) -> None:
        """No server at the URL → 'Cannot reach', not a traceback."""
        url = cloud.url
        await cloud.server.close()
        with pytest.raises(EnrollmentError, match="Cannot reach"):
            await enroll(SecretStore(tmp_path), url, "X", "SN-1", "A920")


class TestSyncService:
    async def test_sync_now_after_enrollment(self, tmp_path: Path, cloud: RealCloud) -> None:
        """An enrolled agent's sync_now drains the queue and reports what it did."""
        code = await cloud.new_code()
        settings = load_settings(overrides={"agent": {"state_dir": str(tmp_path)}})
        enrolled = await enroll(SecretStore(tmp_path), cloud.url, code, "SN-1", "A920")
        await migrate(settings.agent.db_path)
        conn = await aiosqlite.connect(settings.agent.db_path)
        await seed_sales(conn, 7, created_at=int(time.time() * 1000))
        await conn.close()
        database = await AgentDatabase.open(settings.agent.db_path)
        service = SyncService.build(database, resolve_credential(settings, None), settings.cloud.timeout_s)
        try:
            report = await service.sync_now()
            status = await service.status()
        finally:
            await service.close()
            await database.close()
        assert report == {"ok": True, "error": None, "sent": 7, "acked": 7, "rejected": 0, "duplicates": 0,
                          "pending": 0}
        assert status["enabled"] and status["pending_count"] == 0 and status["connected"] is True
        async with aiosqlite.connect(settings.agent.db_path) as check:
            rows = await check.execute_fetchall(
                "SELECT COUNT(*) FROM sales WHERE cloud_intent_id LIKE 'pi_%'")
        assert next(iter(rows))[0] == 7
        assert len(await cloud.intents(enrolled.device.device_id)) == 7  # the cloud holds them, once each

    async def test_not_enrolled_reports_why(self, tmp_path: Path) -> None:
        """Without a credential the service is disabled and says how to enroll."""
        settings = load_settings(overrides={"agent": {"state_dir": str(tmp_path)}})
        database = await AgentDatabase.open(settings.agent.db_path)
        service = SyncService.build(database, resolve_credential(settings, None), settings.cloud.timeout_s)
        report = await service.sync_now()
        assert report["ok"] is False and "enroll" in str(report["error"])
        assert (await service.status())["enabled"] is False
        await database.close()
        await service.close()
