"""Sync and enrollment over HTTPS against the real cloud (cloud/, its own TLS context) on 127.0.0.1.

The PKI comes from the session fixture `test_pki` (made with `cryptography`): with the right CA and pins every
sale is acked; with each wrong piece (unknown CA, expired, wrong host name, pin mismatch) the batch fails with
its own reason before anything is sent, no sale is acked and none is lost, and they all sync once the right
configuration is back.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiosqlite
import pytest
from aiohttp.test_utils import TestServer

from agent.adapters.store.database import AgentDatabase
from agent.adapters.store.outbox import SqliteOutbox
from agent.entrypoints.enroll import activate
from sync.client import DeviceCredential, SyncClient
from sync.errors import CloudNotTrusted, EnrollmentError
from sync.testing.pki import ServerFiles
from sync.tls import CloudTrust
from sync.uploader import Uploader, UploaderConfig
from tests.integration.agent.sync_fixtures import AgentDb, RealCloud, record_sales
from tests.support.pki import Pki

SALES = 25


@dataclass
class HttpsCloud:
    """The real cloud behind its own server TLS context; `present()` swaps the certificate it serves."""

    real: RealCloud
    context: ssl.SSLContext

    def present(self, files: ServerFiles) -> None:
        """Serve `files` to new connections (an already running server, as after a restart with new files)."""
        self.context.load_cert_chain(files.cert, files.key)


@pytest.fixture
async def https_cloud(tmp_path: Path, test_pki: Pki) -> AsyncIterator[HttpsCloud]:
    """`mpac-pgw serve --tls-cert/--tls-key` in-process: create_app and cloud.tls.server_ssl_context."""
    from cloud.api.app import create_app  # noqa: PLC0415 -- tests may import cloud/; kept local like sync_fixtures
    from cloud.bootstrap import build_deps  # noqa: PLC0415
    from cloud.infrastructure.crypto import SecretBox  # noqa: PLC0415
    from cloud.settings import Settings as CloudSettings  # noqa: PLC0415
    from cloud.testing import seed_tenant  # noqa: PLC0415
    from cloud.tls import server_ssl_context  # noqa: PLC0415

    db_path = tmp_path / "pgw.sqlite3"
    settings = CloudSettings(db_url=f"sqlite:///{db_path}", encryption_key=SecretBox.generate_key(),
                             expiry_sweep_seconds=3600, tls_cert=str(test_pki.good.cert),
                             tls_key=str(test_pki.good.key))
    context = server_ssl_context(settings)
    assert context is not None
    deps = build_deps(settings)
    server = TestServer(create_app(settings, deps), host="127.0.0.1", port=0)
    await server.start_server(ssl=context)
    try:
        tenant = await seed_tenant(deps)
        real = RealCloud(server, deps, db_path, tenant.store_id, DeviceCredential("", "", ""))
        got = await activate(real.url, await real.new_code(), "SN-TLS", "itest",
                             trust=CloudTrust(test_pki.ca))
        real.device = DeviceCredential(got.device_id, got.api_key, got.secret_key)
        yield HttpsCloud(real, context)
    finally:
        await server.close()


async def _states(store: AgentDb) -> dict[str, int]:
    async with aiosqlite.connect(store.path) as conn:
        rows = await conn.execute_fetchall("SELECT sync_state, COUNT(*) FROM sales GROUP BY sync_state")
    return {str(state): int(n) for state, n in rows}


async def _drain(store: AgentDb, cloud: RealCloud, trust: CloudTrust) -> Uploader:
    database = await AgentDatabase.open(store.path)
    client = SyncClient(cloud.url, cloud.device, timeout=10, trust=trust)
    uploader = Uploader(SqliteOutbox(database, cloud.device.device_id), client, cloud.device.device_id,
                        UploaderConfig(backoff_base=0.01, backoff_cap=0.05))
    try:
        await uploader.drain()
    finally:
        await client.close()
        await database.close()
    return uploader


class TestSyncOverHttps:
    async def test_right_ca_and_pins_sync_everything(self, agent_store: AgentDb, https_cloud: HttpsCloud,
                                                     test_pki: Pki) -> None:
        """With the test CA as ca_file and the server's key among the pins, every sale is acked once."""
        await record_sales(agent_store, SALES)
        trust = CloudTrust(test_pki.ca, test_pki.pins)
        await _drain(agent_store, https_cloud.real, trust)
        assert await _states(agent_store) == {"acked": SALES}
        assert len(await https_cloud.real.intents(https_cloud.real.device.device_id)) == SALES
        assert trust.last.state == "verified" and trust.last.pinned
        assert trust.last.not_after is not None and trust.last.not_after > time.time()

    @pytest.mark.parametrize("wrong", [
        ("wrong_ca", "unknown_ca", "not signed by a CA this terminal trusts"),
        ("expired", "expired", "has expired"),
        ("wrong_host", "wrong_host", "another host name"),
        ("wrong_pins", "pin_mismatch", "none of [cloud] pins"),
    ], ids=lambda w: w[0])
    async def test_each_wrong_piece_fails_with_its_reason_and_loses_nothing(
            self, agent_store: AgentDb, https_cloud: HttpsCloud, test_pki: Pki,
            wrong: tuple[str, str, str]) -> None:
        """Nothing reaches the cloud, no sale is acked, all stay queued; fixed, they all sync."""
        case, reason, says = wrong
        await record_sales(agent_store, SALES)
        trust = CloudTrust(test_pki.ca)
        if case == "wrong_ca":
            trust = CloudTrust(test_pki.wrong_ca)
        elif case == "wrong_pins":
            trust = CloudTrust(test_pki.ca, test_pki.wrong_pins)
        if case in ("expired", "wrong_host"):
            https_cloud.present(getattr(test_pki, case))
        with pytest.raises(CloudNotTrusted) as failed:
            await _drain(agent_store, https_cloud.real, trust)
        assert failed.value.reason == reason and says in str(failed.value)
        assert await _states(agent_store) == {"queued": SALES}
        assert await https_cloud.real.batches(https_cloud.real.device.device_id) == 0
        assert trust.last.state == "failed" and trust.last.reason == reason

        https_cloud.present(test_pki.good)  # the right configuration is back
        await _drain(agent_store, https_cloud.real, CloudTrust(test_pki.ca, test_pki.pins))
        assert await _states(agent_store) == {"acked": SALES}
        assert len(await https_cloud.real.intents(https_cloud.real.device.device_id)) == SALES

    async def test_a_certificate_error_backs_off_to_the_cap_and_shows(self, agent_store: AgentDb,
                                                                      https_cloud: HttpsCloud,
                                                                      test_pki: Pki) -> None:
        """No retry storm: after a verification failure the uploader waits its longest backoff."""
        await record_sales(agent_store, 3)
        database = await AgentDatabase.open(agent_store.path)
        client = SyncClient(https_cloud.real.url, https_cloud.real.device,
                            trust=CloudTrust(test_pki.wrong_ca))
        config = UploaderConfig(backoff_base=0.01, backoff_cap=42.0)
        uploader = Uploader(SqliteOutbox(database, https_cloud.real.device.device_id), client,
                            https_cloud.real.device.device_id, config)
        waits: list[float] = []

        async def sleep(seconds: float) -> None:
            waits.append(seconds)
            raise asyncio.CancelledError

        uploader._sleep = sleep  # type: ignore[method-assign] # the timer is what is observed here
        try:
            with pytest.raises(asyncio.CancelledError):
                await uploader._pass_with_backoff()
        finally:
            await client.close()
            await database.close()
        assert waits == [42.0]
        assert uploader.state.last_error is not None and "unknown_ca" in uploader.state.last_error
        assert uploader.state.connected is False


class TestEnrollmentOverHttps:
    async def test_enrollment_refuses_a_wrong_certificate_and_keeps_the_code(self, https_cloud: HttpsCloud,
                                                                             test_pki: Pki) -> None:
        """Against an untrusted certificate the code is never sent; with the right CA it then enrolls."""
        code = await https_cloud.real.new_code()
        with pytest.raises(EnrollmentError, match="not trusted") as refused:
            await activate(https_cloud.real.url, code, "SN-2", "itest", trust=CloudTrust(test_pki.wrong_ca))
        assert "unknown_ca" in str(refused.value)
        https_cloud.present(test_pki.wrong_host)
        with pytest.raises(EnrollmentError, match="wrong_host"):
            await activate(https_cloud.real.url, code, "SN-2", "itest", trust=CloudTrust(test_pki.ca))
        https_cloud.present(test_pki.good)
        got = await activate(https_cloud.real.url, code, "SN-2", "itest", trust=CloudTrust(test_pki.ca))
        assert got.device_id

    async def test_the_system_store_does_not_trust_a_private_ca(self, https_cloud: HttpsCloud) -> None:
        """Without ca_file the system CA store is used, and it does not know the test CA."""
        with pytest.raises(EnrollmentError, match="unknown_ca"):
            await activate(https_cloud.real.url, await https_cloud.real.new_code(), "SN-3", "itest")
