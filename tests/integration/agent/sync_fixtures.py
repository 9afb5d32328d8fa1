"""Fixtures: the agent's database on a temp SQLite file, and a cloud on a loopback port.

`cloud` is the REAL gateway (cloud/: `create_app` over `build_deps`, its own SQLite file), with a partner,
merchant and store seeded through its service layer and one device enrolled over `POST /v1/devices/activate`.
`reference_cloud` is the stand-in of sync/testing (sync.testing.FakeCloud): only for faults the real cloud
cannot be made to produce on demand (a 5xx answer to a valid batch). Tests may import cloud/ (the agent
never does); cloud/ is imported inside the fixture, so a cloud mid-change cannot break the other agent tests.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import aiosqlite
import pytest
from aiohttp.test_utils import TestServer

from agent.adapters.store.database import AgentDatabase, migrate
from agent.adapters.store.outbox import SqliteOutbox
from sync.client import DeviceCredential, SyncClient
from sync.testing import FakeCloud, FakeDevice, create_fake_cloud_app
from sync.testing.seed import seed_sales

DEVICE = FakeDevice("dev_itest", "pk_dev_itest", "sk_dev_itest_secret")


@dataclass
class AgentDb:
    """The agent's database file, migrated by the agent's own migration runner."""

    path: Path
    conn: aiosqlite.Connection


async def record_sales(agent: AgentDb, n: int, prefix: str = "ref") -> None:
    """Append n queued, hash-chained cash sales (sync.testing.seed, the agreed `sales` columns)."""
    await seed_sales(agent.conn, n, prefix=prefix, created_at=int(time.time() * 1000))


@dataclass
class CloudUnderTest:
    """The reference stand-in (sync.testing.FakeCloud) and its loopback server."""

    cloud: FakeCloud
    server: TestServer

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    @property
    def port(self) -> int:
        return int(self.server.port or 0)


@pytest.fixture
async def agent_store(tmp_path: Path) -> AsyncIterator[AgentDb]:
    """The agent's database (every agent/adapters/store/migrations/*.sql applied, WAL, synchronous=FULL)."""
    path = tmp_path / "agent.sqlite3"
    await migrate(path)
    conn = await aiosqlite.connect(path)
    yield AgentDb(path, conn)
    await conn.close()


@pytest.fixture
async def outbox(agent_store: AgentDb) -> AsyncIterator[SqliteOutbox]:
    """The outbox over the agent database (its one writer) on the same file."""
    database = await AgentDatabase.open(agent_store.path)
    yield SqliteOutbox(database, DEVICE.device_id)
    await database.close()


@dataclass
class RealCloud:
    """The real gateway on loopback: its server, dependencies, database file and the enrolled device."""

    server: TestServer
    deps: Any  # cloud.deps.Deps (typed loosely: cloud/ is imported only inside the fixture)
    db_path: Path
    store_id: str
    device: DeviceCredential

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    @property
    def port(self) -> int:
        return int(self.server.port or 0)

    async def new_code(self, ttl_s: float = 3600.0) -> str:
        """A fresh activation code for the store (what `mpac-pgw admin activation-code` does), valid `ttl_s`
        from now (negative: already expired)."""
        from cloud.domain.devices import CODE_TTL_SECONDS, IssueActivationCode  # noqa: PLC0415 -- see module doc
        from cloud.service.devices import issue_activation_code  # noqa: PLC0415 -- see the module docstring

        issued = await issue_activation_code(
            IssueActivationCode(self.store_id), devices=self.deps.devices, tenants=self.deps.tenants,
            clock=lambda: time.time() + ttl_s - CODE_TTL_SECONDS)
        return str(issued.code)

    async def enroll(self, serial: str) -> DeviceCredential:
        """Activate a new device with a fresh code over HTTP, as a technician would."""
        body = {"code": await self.new_code(), "serial_number": serial, "model": "itest"}
        async with aiohttp.ClientSession() as session, session.post(self.url + "/v1/devices/activate",
                                                                    json=body) as resp:
            got = await resp.json()
            assert resp.status == 201, got
        return DeviceCredential(got["device_id"], got["api_key"], got["secret_key"])

    async def _rows(self, sql: str, *params: object) -> list[Any]:
        async with aiosqlite.connect(f"file:{self.db_path}?mode=ro", uri=True) as conn:
            return list(await conn.execute_fetchall(sql, params))

    async def intents(self, device_id: str) -> list[tuple[str, str, int]]:
        """(local_id, payment_intent_id, seq) of every item the cloud holds for the device, by seq."""
        rows = await self._rows("SELECT local_id, payment_intent_id, seq FROM sync_items WHERE device_id = ? "
                                "ORDER BY seq", device_id)
        return [(str(r[0]), str(r[1]), int(r[2])) for r in rows]

    async def batches(self, device_id: str) -> int:
        """How many batches of the device the cloud committed."""
        rows = await self._rows("SELECT COUNT(*) FROM sync_batches WHERE device_id = ?", device_id)
        return int(rows[0][0])


@pytest.fixture
async def cloud(tmp_path: Path) -> AsyncIterator[RealCloud]:
    """The real cloud (cloud/) on 127.0.0.1 with one enrolled device."""
    # Imported here, not at the top: a cloud/ mid-change must not stop the other agent tests from collecting.
    from cloud.api.app import create_app  # noqa: PLC0415
    from cloud.bootstrap import build_deps  # noqa: PLC0415
    from cloud.infrastructure.crypto import SecretBox  # noqa: PLC0415
    from cloud.settings import Settings as CloudSettings  # noqa: PLC0415
    from cloud.testing import seed_tenant  # noqa: PLC0415

    db_path = tmp_path / "pgw.sqlite3"
    settings = CloudSettings(db_url=f"sqlite:///{db_path}", encryption_key=SecretBox.generate_key(),
                             expiry_sweep_seconds=3600)
    deps = build_deps(settings)
    server = TestServer(create_app(settings, deps), host="127.0.0.1", port=0)
    await server.start_server()
    try:
        tenant = await seed_tenant(deps)
        real = RealCloud(server, deps, db_path, tenant.store_id, DeviceCredential("", "", ""))
        real.device = await real.enroll("SN-ITEST")
        yield real
    finally:
        await server.close()


@pytest.fixture
async def reference_cloud(tmp_path: Path) -> AsyncIterator[CloudUnderTest]:
    """The reference stand-in batch endpoint (sync.testing) with DEVICE provisioned: faults on demand."""
    fake = FakeCloud(str(tmp_path / "cloud.sqlite3"))
    server = TestServer(create_fake_cloud_app(fake), host="127.0.0.1", port=0)
    await server.start_server()
    await fake.add_device(DEVICE)
    yield CloudUnderTest(fake, server)
    await server.close()


def make_client(url: str, device: DeviceCredential | FakeDevice = DEVICE,
                secret: str | None = None) -> SyncClient:
    """A SyncClient for the device (or with a forged secret)."""
    cred = DeviceCredential(device.device_id, device.api_key, secret or device.secret_key)
    return SyncClient(url, cred, timeout=5)
