"""The named dependencies of a pgw app (built by cloud.bootstrap, read by cloud.api)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cloud.domain.devices import DeviceRepository
from cloud.domain.ports import (
    Clock,
    CredentialResolver,
    Leadership,
    RateCounters,
    Storage,
    TenantRepository,
    UnitOfWork,
    WebhookRepository,
)
from cloud.domain.provider_ports import ProviderRegistry
from cloud.domain.tenants import CredentialSecrets
from cloud.infrastructure.providers.simulator import SimulatorProvider


@dataclass(frozen=True, slots=True)
class Deps:
    """Named dependencies handed to create_app and, from there, to every service handler."""

    db: Storage
    uow: Callable[[], UnitOfWork]  # a fresh unit of work: intents, idempotency records, sync batches
    tenants: TenantRepository
    credentials: CredentialResolver
    providers: ProviderRegistry
    simulator: SimulatorProvider | None
    clock: Clock
    devices: DeviceRepository  # device enrollment (docs/cloud-api.md)
    limits: RateCounters  # rate-limit counters, shared by every worker (docs/operations.md#workers)
    leader: Leadership  # one worker at a time runs each background task
    webhooks: WebhookRepository | None = None  # outbound webhook endpoints and deliveries (docs/cloud-api.md)
    secrets: CredentialSecrets | None = None  # rotation and last use (docs/cloud-api.md#rotating-a-secret)
