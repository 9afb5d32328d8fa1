"""The composition root of a pgw process: settings -> storage -> providers -> app."""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path

from aiohttp import web

from cloud.api.app import create_app
from cloud.api.views import intent_json
from cloud.deps import Deps
from cloud.domain.ports import Clock
from cloud.infrastructure.crypto import SecretBox
from cloud.infrastructure.postgres.credential_secrets import PgCredentialSecrets
from cloud.infrastructure.postgres.db import PgDatabase, PoolBounds, is_postgres_url
from cloud.infrastructure.postgres.devices import PgDeviceRepository
from cloud.infrastructure.postgres.limits import PgLeadership, PgRateCounters
from cloud.infrastructure.postgres.tenants import PgCredentialResolver, PgTenantRepository
from cloud.infrastructure.postgres.unit_of_work import PgUnitOfWork
from cloud.infrastructure.postgres.webhooks import PgWebhookRepository
from cloud.infrastructure.providers.paypay import PayPayProvider
from cloud.infrastructure.providers.registry import Registry
from cloud.infrastructure.providers.simulator import SimulatorProvider
from cloud.infrastructure.sqlite.credential_secrets import SqliteCredentialSecrets
from cloud.infrastructure.sqlite.db import Database, sqlite_path
from cloud.infrastructure.sqlite.devices import SqliteDeviceRepository
from cloud.infrastructure.sqlite.limits import SqliteLeadership, SqliteRateCounters
from cloud.infrastructure.sqlite.tenants import SqliteCredentialResolver, SqliteTenantRepository
from cloud.infrastructure.sqlite.unit_of_work import SqliteUnitOfWork
from cloud.infrastructure.sqlite.webhooks import SqliteWebhookRepository
from cloud.service.webhooks import with_events
from cloud.settings import ENV_ENCRYPTION_KEY, Settings, SettingsError


def encryption_key(settings: Settings, db_path: Path) -> bytes:
    """The configured key, else a key file beside the database (created once, mode 0600)."""
    if settings.encryption_key is not None:
        return settings.encryption_key
    key_file = db_path.with_name(db_path.name + ".key")
    if key_file.exists():
        return key_file.read_bytes().strip()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(SecretBox.generate_key())
    return key_file.read_bytes().strip()


def build_deps(settings: Settings, clock: Clock = time.time) -> Deps:
    """Storage and providers for one process (the database is opened later, inside the event loop)."""
    if is_postgres_url(settings.db_url):
        return postgres_deps(settings, clock)
    path = sqlite_path(settings.db_url)
    db = Database(path)
    box = SecretBox(encryption_key(settings, path))
    simulator = SimulatorProvider()
    registry = Registry([simulator, PayPayProvider()], default=settings.default_provider)
    return Deps(
        db=db,
        uow=with_events(functools.partial(SqliteUnitOfWork, db), intent_json),  # docs/cloud-api.md#webhooks
        tenants=SqliteTenantRepository(db, box),
        credentials=SqliteCredentialResolver(db),
        providers=registry,
        simulator=simulator if settings.simulator_routes else None,
        clock=clock,
        devices=SqliteDeviceRepository(db),
        limits=SqliteRateCounters(db),
        leader=SqliteLeadership(db, clock),
        webhooks=SqliteWebhookRepository(db, box),
        secrets=SqliteCredentialSecrets(db, box),
    )


def postgres_deps(settings: Settings, clock: Clock = time.time) -> Deps:
    """The same dependencies on PostgreSQL (docs/operations.md#running-on-postgresql): every worker on any
    host shares the database, so the encryption key must be given, not kept in a file beside it."""
    if settings.encryption_key is None:
        raise SettingsError(f"on PostgreSQL set {ENV_ENCRYPTION_KEY} (the same Fernet key for every worker)")
    db = PgDatabase(settings.db_url, PoolBounds(max_size=settings.db_pool_size))
    box = SecretBox(settings.encryption_key)
    simulator = SimulatorProvider()
    return Deps(
        db=db,
        uow=with_events(functools.partial(PgUnitOfWork, db), intent_json),
        tenants=PgTenantRepository(db, box),
        credentials=PgCredentialResolver(db),
        providers=Registry([simulator, PayPayProvider()], default=settings.default_provider),
        simulator=simulator if settings.simulator_routes else None,
        clock=clock,
        devices=PgDeviceRepository(db),
        limits=PgRateCounters(db),
        leader=PgLeadership(db),
        webhooks=PgWebhookRepository(db, box),
        secrets=PgCredentialSecrets(db, box),
    )


def build_app(settings: Settings, clock: Clock = time.time) -> web.Application:
    """The whole pgw application for these settings."""
    return create_app(settings, build_deps(settings, clock))
