"""Service handlers for tenants and their credentials (used by `mpac-pgw admin`)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from secrets import token_urlsafe  # the name `secrets` is the CredentialSecrets argument below

from cloud.domain import commands as c
from cloud.domain import ids
from cloud.domain.errors import Conflict, NotFound, ValidationFailed
from cloud.domain.ports import Clock, CredentialResolver, TenantRepository
from cloud.domain.provider_ports import ProviderRegistry
from cloud.domain.tenants import (
    ClientPartner,
    Credential,
    CredentialKind,
    CredentialSecrets,
    Merchant,
    RevokeSecret,
    RotateSecret,
    Rotation,
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


MAX_OLD_EXPIRES_IN = 30 * 24 * 3600  # an overlap longer than a month is a second key, not a rotation


@dataclass(frozen=True, slots=True)
class RotatedSecret:
    """The only copy of a credential's new secret, and until when the one it replaced still works."""

    api_key: str
    secret_key: str
    previous_expires_at: float


async def rotate(credential: Credential, overlap: float, *, secrets: CredentialSecrets, now: float,
                 prefix: str, keep_sealed: bool = False) -> RotatedSecret:  # fmt: skip
    """A fresh secret becomes current, the present one previous for `overlap` seconds; `keep_sealed` keeps
    the new secret encrypted until its first use (a device's rotation may be answered twice)."""
    secret = prefix + token_urlsafe(32)
    expires = now + overlap
    await secrets.rotate(Rotation(credential.api_key, credential.secret_key_hash, secret_key_hash(secret),
                                  expires, now, secret if keep_sealed else None))  # fmt: skip
    return RotatedSecret(credential.api_key, secret, expires)


async def rotate_partner_secret(
    cmd: RotateSecret, *, credentials: CredentialResolver, secrets: CredentialSecrets, clock: Clock
) -> RotatedSecret:
    """`admin partner rotate-secret`: refused while a previous secret is still live (docs/cloud-api.md)."""
    if not 0 < cmd.old_expires_in <= MAX_OLD_EXPIRES_IN:
        raise ValidationFailed(f"old_expires_in must be 1 s to {MAX_OLD_EXPIRES_IN // 86400} days",
                               param="old_expires_in")  # fmt: skip
    now = clock()
    credential = await _partner_credential(cmd.partner_id, cmd.api_key, credentials, secrets, now)
    if credential.previous_live(now) is not None:
        raise Conflict("the previous secret is still live: revoke it first (admin partner revoke-secret)",
                       code="previous_secret_live", param="partner")  # fmt: skip
    return await rotate(credential, cmd.old_expires_in, secrets=secrets, now=now, prefix="sk_")


async def revoke_partner_secret(
    cmd: RevokeSecret, *, credentials: CredentialResolver, secrets: CredentialSecrets, clock: Clock
) -> str:
    """`admin partner revoke-secret`: the previous secret stops working; returns the api_key."""
    credential = await _partner_credential(cmd.partner_id, cmd.api_key, credentials, secrets, clock())
    if not await secrets.revoke_previous(credential.api_key):
        raise NotFound("this key has no previous secret", code="no_previous_secret", param="partner")
    return credential.api_key


async def _partner_credential(partner_id: str, api_key: str | None, credentials: CredentialResolver,
                              secrets: CredentialSecrets, now: float) -> Credential:  # fmt: skip
    """The partner's own key (not a device's): the given one, or its only one."""
    infos = await secrets.list_secrets(partner_id, None, now)
    keys = sorted({i.api_key for i in infos if i.kind is CredentialKind.PARTNER})
    if api_key is not None:
        keys = [k for k in keys if k == api_key]
    if not keys:
        raise NotFound(f"no partner key for {partner_id}", param="partner")
    if len(keys) > 1:
        raise ValidationFailed("this partner has several keys: name one with --api-key", param="api_key")
    credential = await credentials.resolve(keys[0])
    if credential is None:
        raise NotFound(f"no partner key for {partner_id}", param="partner")
    return credential
