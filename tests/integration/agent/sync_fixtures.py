"""Fixtures: a real agent Store on a temp SQLite file and the reference fake cloud on a loopback port."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

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
    """The fake cloud and its loopback server."""

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


@pytest.fixture
async def cloud(tmp_path: Path) -> AsyncIterator[CloudUnderTest]:
    """The reference fake batch endpoint (stands in for cloud/) with DEVICE provisioned."""
    fake = FakeCloud(str(tmp_path / "cloud.sqlite3"))
    server = TestServer(create_fake_cloud_app(fake), host="127.0.0.1", port=0)
    await server.start_server()
    await fake.add_device(DEVICE)
    yield CloudUnderTest(fake, server)
    await server.close()


def make_client(url: str, secret: str = DEVICE.secret_key) -> SyncClient:
    """A SyncClient for DEVICE (or with a forged secret)."""
    return SyncClient(url, DeviceCredential(DEVICE.device_id, DEVICE.api_key, secret), timeout=5)
