"""The named dependencies of a pgw app (built by cloud.bootstrap, read by cloud.api)."""

from __future__ import annotations

from dataclasses import dataclass

from cloud.domain.devices import DeviceRepository
from cloud.domain.ports import (
    Clock,
    CredentialResolver,
    IdempotencyStore,
    PaymentIntentRepository,
    ProviderRegistry,
    Storage,
    TenantRepository,
)
from cloud.domain.sync import SyncRepository
from cloud.infrastructure.providers.simulator import SimulatorProvider


@dataclass(frozen=True, slots=True)
class Deps:
    """Named dependencies handed to create_app and, from there, to every service handler."""

    db: Storage
    intents: PaymentIntentRepository
    tenants: TenantRepository
    credentials: CredentialResolver
    idempotency: IdempotencyStore
    providers: ProviderRegistry
    simulator: SimulatorProvider | None
    clock: Clock
    devices: DeviceRepository  # device enrollment (DESIGN §7)
    sync: SyncRepository  # sync batch intake (DESIGN §6)
