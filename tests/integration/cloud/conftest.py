"""Fixtures for cloud integration tests: a real pgw app on a loopback port with a real SQLite file.

Reusable by any test under tests/integration/cloud/:
- `pgw_settings`  Settings on a fresh SQLite file in tmp_path (expiry sweeper effectively off).
- `clock`         a SettableClock shared by the server and the signing clients.
- `pgw`           a running server (`pgw.url`, `pgw.deps`, `pgw.app`, `pgw.db_path`, `pgw.session`).
- `tenant`, `other_tenant`   seeded partners (tenant uses pk_test_abc123 / sk_test_xyz789).
- `client`, `other_client`   PgwClients signing as those partners.
Build a server with different settings via `await pgw_factory(settings.with_changes(...))`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from cloud.api.app import create_app
from cloud.bootstrap import build_deps
from cloud.deps import Deps
from cloud.infrastructure.crypto import SecretBox
from cloud.infrastructure.sqlite.db import sqlite_path
from cloud.settings import Settings
from cloud.testing import PgwClient, SettableClock, Tenant, seed_tenant

API_KEY, SECRET_KEY = "pk_test_abc123", "sk_test_xyz789"


@dataclass
class Pgw:
    """A running gateway: its base URL, app, dependencies, database file and an HTTP session."""

    url: str
    app: web.Application
    deps: Deps
    db_path: Path
    session: aiohttp.ClientSession
    clock: SettableClock

    def client(self, tenant: Tenant) -> PgwClient:
        """A signing client for a seeded tenant."""
        return PgwClient(self.session, self.url, tenant.api_key, tenant.secret_key, self.clock)


PgwFactory = Callable[..., Awaitable[Pgw]]


@pytest.fixture
def clock() -> SettableClock:
    """Server and client time, movable by tests."""
    return SettableClock()


@pytest.fixture
def pgw_settings(tmp_path: Path) -> Settings:
    """Settings on a fresh SQLite file; the periodic expiry sweep is pushed out of the way."""
    return Settings(
        db_url=f"sqlite:///{tmp_path / 'pgw.sqlite3'}",
        encryption_key=SecretBox.generate_key(),
        expiry_sweep_seconds=3600,
    )


@pytest.fixture
async def pgw_factory(aiohttp_server: AiohttpServer, clock: SettableClock) -> AsyncIterator[PgwFactory]:
    """Start servers with given settings (and optionally given deps) on 127.0.0.1, port 0."""
    sessions: list[aiohttp.ClientSession] = []

    async def start(settings: Settings, deps: Deps | None = None) -> Pgw:
        deps = deps or build_deps(settings, clock)
        app = create_app(settings, deps)
        server = await aiohttp_server(app, host="127.0.0.1", port=0)
        session = aiohttp.ClientSession()
        sessions.append(session)
        url = str(server.make_url("")).rstrip("/")
        return Pgw(url, app, deps, sqlite_path(settings.db_url), session, clock)

    yield start
    for session in sessions:
        await session.close()


@pytest.fixture
async def pgw(pgw_factory: PgwFactory, pgw_settings: Settings) -> Pgw:
    """One running gateway with default settings."""
    return await pgw_factory(pgw_settings)


@pytest.fixture
async def tenant(pgw: Pgw) -> Tenant:
    """Partner pk_test_abc123 with merchant and store `store_001`."""
    return await seed_tenant(pgw.deps, api_key=API_KEY, secret_key=SECRET_KEY)


@pytest.fixture
async def other_tenant(pgw: Pgw) -> Tenant:
    """Another partner, random keys, its own store `store_001` (same code, other tenant)."""
    return await seed_tenant(pgw.deps)


@pytest.fixture
def client(pgw: Pgw, tenant: Tenant) -> PgwClient:
    """Signs as `tenant`."""
    return pgw.client(tenant)


@pytest.fixture
def other_client(pgw: Pgw, other_tenant: Tenant) -> PgwClient:
    """Signs as `other_tenant`."""
    return pgw.client(other_tenant)
