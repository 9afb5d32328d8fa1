"""Fixtures for cloud integration tests: a real pgw app on a loopback port over a real database.

Every test that uses `pgw_settings` (so `pgw`, `tenant`, `client`, …) runs twice: on a fresh SQLite file and
on a fresh database of the session's throwaway PostgreSQL (ids `[sqlite]` / `[postgresql]`). A test that reads
the SQLite file itself says so with `@pytest.mark.sqlite_only("why")`; its PostgreSQL run is skipped.

Reusable by any test under tests/integration/cloud/:
- `db_backend`    "sqlite" or "postgresql" (the parameter).
- `pgw_settings`  Settings on a fresh database of that backend (expiry sweeper effectively off).
- `clock`         a SettableClock shared by the server and the signing clients.
- `pgw`           a running server (`pgw.url`, `pgw.deps`, `pgw.app`, `pgw.db_path`, `pgw.session`).
- `tenant`, `other_tenant`   seeded partners (tenant uses pk_test_abc123 / sk_test_xyz789).
- `client`, `other_client`   PgwClients signing as those partners.
Build a server with different settings via `await pgw_factory(settings.with_changes(...))`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
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
from cloud.infrastructure.postgres.db import is_postgres_url
from cloud.infrastructure.sqlite.db import sqlite_path
from cloud.settings import ENV_ENCRYPTION_KEY, Settings
from cloud.testing import PgwClient, SettableClock, Tenant, seed_tenant
from tests.pgserver import fresh_database

API_KEY, SECRET_KEY = "pk_test_abc123", "sk_test_xyz789"


@dataclass
class Pgw:
    """A running gateway: its base URL, app, dependencies, database and an HTTP session."""

    url: str
    app: web.Application
    deps: Deps
    db_path: Path | str  # the SQLite file, or the PostgreSQL URL (helpers.rows and db_snapshot take both)
    session: aiohttp.ClientSession
    clock: SettableClock
    deps_key: bytes | None = None  # the settings' encryption key

    @property
    def cli_db(self) -> str:
        """The --db URL a `mpac-pgw admin` subprocess needs to reach this gateway's database."""
        return self.db_path if isinstance(self.db_path, str) else f"sqlite:///{self.db_path}"

    @property
    def cli_env(self) -> dict[str, str]:
        """The environment of such a subprocess: the gateway's encryption key (PostgreSQL requires it)."""
        key = self.deps_key.decode() if self.deps_key else ""
        return {**os.environ, ENV_ENCRYPTION_KEY: key} if key else dict(os.environ)

    def client(self, tenant: Tenant) -> PgwClient:
        """A signing client for a seeded tenant."""
        return PgwClient(self.session, self.url, tenant.api_key, tenant.secret_key, self.clock)


PgwFactory = Callable[..., Awaitable[Pgw]]


@pytest.fixture
def clock() -> SettableClock:
    """Server and client time, movable by tests."""
    return SettableClock()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_backend(request: pytest.FixtureRequest) -> str:
    """Which database the test's gateway runs on; sqlite_only tests skip their PostgreSQL run."""
    backend: str = request.param
    only = request.node.get_closest_marker("sqlite_only")
    if backend == "postgresql" and only is not None:
        pytest.skip(f"SQLite only: {only.args[0] if only.args else 'reads the SQLite file'}")
    return backend


@pytest.fixture
def db_url(db_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh database: a SQLite file in tmp_path, or a new database on the session's PostgreSQL."""
    sqlite_file = tmp_path / "pgw.sqlite3"
    yield from fresh_database(db_backend, sqlite_file, lambda: request.getfixturevalue("pg_server"))


@pytest.fixture
def pgw_settings(db_url: str) -> Settings:
    """Settings on a fresh database; the periodic expiry sweep is pushed out of the way."""
    return Settings(db_url=db_url, encryption_key=SecretBox.generate_key(), expiry_sweep_seconds=3600)


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
        where = settings.db_url if is_postgres_url(settings.db_url) else sqlite_path(settings.db_url)
        return Pgw(url, app, deps, where, session, clock, settings.encryption_key)

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
