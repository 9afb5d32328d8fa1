"""Service handlers for tenants and their credentials (used by `mpac-pgw admin`)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from cloud.domain import commands as c
from cloud.domain import ids
from cloud.domain.errors import NotFound, ValidationFailed
from cloud.domain.ports import Clock, ProviderRegistry, TenantRepository
from cloud.domain.tenants import (
    ClientPartner,
    Credential,
    CredentialKind,
    Merchant,
    Store,
    StoreProviderConfig,
)
from sync.signing import secret_key_hash

_API_KEY_RE = re.compile(r"^[A-Za-z0-9_\-]{8,128}$")


@dataclass(frozen=True, slots=True)
class NewPartner:
    """The created partner and the only copy of its secret key."""

    partner: ClientPartner
    api_key: str
    secret_key: str


async def create_partner(
    cmd: c.CreateClientPartner, *, tenants: TenantRepository, clock: Clock
) -> NewPartner:
    """A partner plus its HMAC credential; only the SHA-256 of the secret is stored."""
    # Only an absent key is made up: a given one, even empty, is checked (an empty secret is refused).
    api_key = "pk_" + secrets.token_hex(16) if cmd.api_key is None else cmd.api_key
    secret = "sk_" + secrets.token_urlsafe(32) if cmd.secret_key is None else cmd.secret_key
    if _API_KEY_RE.match(api_key) is None:
        raise ValidationFailed("api_key must be 8–128 of A-Z a-z 0-9 _ -", param="api_key")
    if len(secret) < 8:
        raise ValidationFailed("secret_key must be at least 8 characters", param="secret_key")
    partner = ClientPartner(ids.new_id(ids.CLIENT_PARTNER), cmd.name, clock())
    credential = Credential(api_key, secret_key_hash(secret), CredentialKind.PARTNER, partner.id)
    await tenants.add_partner(partner, credential)
    return NewPartner(partner, api_key, secret)


async def create_merchant(cmd: c.CreateMerchant, *, tenants: TenantRepository, clock: Clock) -> Merchant:
    """A merchant under an existing partner."""
    merchant = Merchant(ids.new_id(ids.MERCHANT), cmd.partner_id, cmd.name, clock())
    await tenants.add_merchant(merchant)
    return merchant


async def create_store(cmd: c.CreateStore, *, tenants: TenantRepository, clock: Clock) -> Store:
    """A store under an existing merchant; the code must be unique in that merchant."""
    merchant = await tenants.get_merchant(cmd.merchant_id)
    if merchant is None:
        raise NotFound(f"no merchant {cmd.merchant_id}", param="merchant")
    if not 1 <= len(cmd.code) <= 255:
        raise ValidationFailed("store code must be 1–255 characters", param="code")
    store = Store(
        ids.new_id(ids.STORE), merchant.id, merchant.partner_id, cmd.code, cmd.name or cmd.code, clock()
    )
    await tenants.add_store(store)
    return store


async def set_provider_config(
    cmd: c.SetProviderConfig, *, tenants: TenantRepository, providers: ProviderRegistry, clock: Clock
) -> StoreProviderConfig:
    """Encrypt and store the provider credentials of one store."""
    provider = providers.get(cmd.provider)
    if provider is None:
        raise ValidationFailed(f"unknown provider {cmd.provider!r}; valid providers: "
                               f"{', '.join(providers.names())}", param="provider")
    provider.check_credentials(cmd.credentials)  # docs/providers.md#config
    if await tenants.get_store(cmd.store_id) is None:
        raise NotFound(f"no store {cmd.store_id}", param="store")
    config = StoreProviderConfig(
        ids.new_id(ids.PROVIDER_CONFIG), cmd.store_id, cmd.provider, cmd.credentials, clock()
    )
    await tenants.set_provider_config(config)
    return config
