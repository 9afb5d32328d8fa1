"""TenantRepository and CredentialResolver on PostgreSQL (provider credentials sealed with a SecretBox).

Stores and credentials are cached in-process exactly as on SQLite (ReadCache): a write by this worker is seen
at once, a write by another worker or host within CACHE_TTL (docs/operations.md#running-on-postgresql).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cloud.domain.errors import Conflict, NotFound
from cloud.domain.ports import ProviderConfigInfo
from cloud.domain.tenants import (
    ClientPartner,
    Credential,
    Merchant,
    Store,
    StoreProviderConfig,
)
from cloud.infrastructure.crypto import SecretBox
from cloud.infrastructure.postgres.db import Op, PgDatabase
from cloud.infrastructure.sqlite.intents import ms
from cloud.infrastructure.sqlite.tenants import CACHE_TTL, CREDENTIAL_SELECT, ReadCache, credential_from_row

_STORE_COLS = "id, merchant_id, partner_id, code, name, created_at"
_CREDENTIAL_COLS = ("api_key, secret_key_hash, kind, partner_id, merchant_id, store_id, device_id, active, "
                    "created_at")  # fmt: skip


def credential_op(c: Credential, created_at: float, **mapping: Any) -> Op:
    """The INSERT of one credential row (partner keys here; device enrollment reuses it)."""
    return Op(
        f"INSERT INTO credentials ({_CREDENTIAL_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",  # noqa: S608
        (c.api_key, c.secret_key_hash, c.kind.value, c.partner_id, c.merchant_id, c.store_id, c.device_id,
         int(c.active), ms(created_at)), **mapping,
    )  # fmt: skip


def _store(r: Any) -> Store:
    return Store(r[0], r[1], r[2], r[3], r[4], r[5] / 1000)


def _partner(r: Any) -> ClientPartner:
    return ClientPartner(r[0], r[1], r[2] / 1000)


def _merchant(r: Any) -> Merchant:
    return Merchant(r[0], r[1], r[2], r[3] / 1000)


def _raise(error: BaseException) -> Any:
    return lambda _err: error


class PgTenantRepository:
    """Partners, merchants, stores and provider configs."""

    def __init__(self, db: PgDatabase, box: SecretBox, cache_ttl: float = CACHE_TTL) -> None:
        self._db = db
        self._box = box
        self._by_id: ReadCache[str, Store] = ReadCache(db, "stores", cache_ttl)
        self._found: ReadCache[tuple[str, str | None, str | None], tuple[Store, ...]]
        self._found = ReadCache(db, "stores", cache_ttl)

    async def add_partner(self, partner: ClientPartner, credential: Credential) -> None:
        """Partner and its first credential in one transaction; Conflict if the api_key is taken."""
        taken = _raise(Conflict("that api_key is already in use", param="api_key"))
        await self._db.write([
            Op("INSERT INTO client_partners (id, name, created_at) VALUES ($1, $2, $3)",
               (partner.id, partner.name, ms(partner.created_at)), on_integrity=taken),
            credential_op(credential, partner.created_at, on_integrity=taken),
        ])  # fmt: skip

    async def add_merchant(self, merchant: Merchant) -> None:
        """Insert a merchant under an existing partner."""
        await self._db.write([Op(
            "INSERT INTO merchants (id, partner_id, name, created_at) VALUES ($1, $2, $3, $4)",
            (merchant.id, merchant.partner_id, merchant.name, ms(merchant.created_at)),
            on_integrity=_raise(NotFound(f"no client partner {merchant.partner_id}", param="partner")),
        )])  # fmt: skip

    async def add_store(self, store: Store) -> None:
        """Insert a store; its code is unique within the merchant."""
        s = store
        await self._db.write([Op(
            f"INSERT INTO stores ({_STORE_COLS}) VALUES ($1, $2, $3, $4, $5, $6)",  # noqa: S608 — constants
            (s.id, s.merchant_id, s.partner_id, s.code, s.name, ms(s.created_at)),
            on_integrity=_raise(Conflict(f"store code {s.code!r} already exists in this merchant",
                                         param="code")),
        )])  # fmt: skip

    async def get_merchant(self, merchant_id: str) -> Merchant | None:
        """The merchant, or None."""
        r = await self._db.fetch_one("SELECT id, partner_id, name, created_at FROM merchants WHERE id=$1",
                                     (merchant_id,))  # fmt: skip
        return None if r is None else _merchant(r)

    async def get_store(self, store_id: str) -> Store | None:
        """The store, or None (cached: see ReadCache)."""
        async def fetch() -> Store | None:
            r = await self._db.fetch_one(f"SELECT {_STORE_COLS} FROM stores WHERE id=$1", (store_id,))  # noqa: S608
            return None if r is None else _store(r)

        return await self._by_id.load(store_id, fetch)

    async def find_stores(
        self, partner_id: str, code: str | None, merchant_id: str | None
    ) -> Sequence[Store]:
        """Stores of a partner, optionally by code and merchant (at most 2 rows are needed; cached)."""
        async def fetch() -> tuple[Store, ...]:
            return tuple(_store(r) for r in await self._db.fetch_all(
                f"SELECT {_STORE_COLS} FROM stores WHERE partner_id=$1 "  # noqa: S608
                "AND ($2::text IS NULL OR code=$2) AND ($3::text IS NULL OR merchant_id=$3) LIMIT 2",
                (partner_id, code, merchant_id)))  # fmt: skip

        # "no such store" is not cached: a store created a moment later must be found
        return await self._found.load((partner_id, code, merchant_id), fetch) or ()

    async def set_provider_config(self, config: StoreProviderConfig) -> None:
        """Upsert the sealed credentials of (store, provider)."""
        await self._db.write([Op(
            "INSERT INTO store_provider_configs (id, store_id, provider, credentials_enc, updated_at) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (store_id, provider) "
            "DO UPDATE SET credentials_enc=excluded.credentials_enc, updated_at=excluded.updated_at",
            (config.id, config.store_id, config.provider, self._box.seal(config.credentials),
             ms(config.updated_at)),
            on_integrity=_raise(NotFound(f"no store {config.store_id}", param="store")),
        )])  # fmt: skip

    async def get_provider_config(self, store_id: str, provider: str) -> StoreProviderConfig | None:
        """The config with its credentials decrypted in memory, or None."""
        r = await self._db.fetch_one(
            "SELECT id, store_id, provider, credentials_enc, updated_at FROM store_provider_configs "
            "WHERE store_id=$1 AND provider=$2", (store_id, provider))  # fmt: skip
        if r is None:
            return None
        return StoreProviderConfig(r[0], r[1], r[2], self._box.open(bytes(r[3])), r[4] / 1000)

    async def get_partner(self, partner_id: str) -> ClientPartner | None:
        """The partner, or None."""
        r = await self._db.fetch_one("SELECT id, name, created_at FROM client_partners WHERE id=$1",
                                     (partner_id,))  # fmt: skip
        return None if r is None else _partner(r)

    async def list_partners(self) -> Sequence[ClientPartner]:
        """Every partner, oldest first."""
        rows = await self._db.fetch_all(
            "SELECT id, name, created_at FROM client_partners ORDER BY created_at, id")
        return [_partner(r) for r in rows]

    async def list_merchants(self, partner_id: str | None) -> Sequence[Merchant]:
        """Merchants (of one partner when given), oldest first."""
        rows = await self._db.fetch_all(
            "SELECT id, partner_id, name, created_at FROM merchants WHERE $1::text IS NULL OR partner_id=$1 "
            "ORDER BY created_at, id", (partner_id,))  # fmt: skip
        return [_merchant(r) for r in rows]

    async def list_stores(self, merchant_id: str | None) -> Sequence[Store]:
        """Stores (of one merchant when given), oldest first."""
        rows = await self._db.fetch_all(
            f"SELECT {_STORE_COLS} FROM stores WHERE $1::text IS NULL OR merchant_id=$1 "  # noqa: S608
            "ORDER BY created_at, id", (merchant_id,))  # fmt: skip
        return [_store(r) for r in rows]

    async def list_provider_configs(self, store_id: str | None) -> Sequence[ProviderConfigInfo]:
        """Configs (of one store when given) without reading the sealed credentials."""
        rows = await self._db.fetch_all(
            "SELECT id, store_id, provider, updated_at FROM store_provider_configs "
            "WHERE $1::text IS NULL OR store_id=$1 ORDER BY store_id, provider", (store_id,))  # fmt: skip
        return [ProviderConfigInfo(r[0], r[1], r[2], r[3] / 1000) for r in rows]


class PgCredentialResolver:
    """api_key -> Credential from the credentials table (partner and device rows)."""

    def __init__(self, db: PgDatabase, cache_ttl: float = CACHE_TTL) -> None:
        self._db = db
        self._cache: ReadCache[str, Credential] = ReadCache(db, "credentials", cache_ttl)

    async def resolve(self, api_key: str) -> Credential | None:
        """The credential for an api_key, or None (cached: a suspension by this worker applies at once;
        unknown keys are not cached, so a flood of made-up keys takes no memory)."""
        async def fetch() -> Credential | None:
            r = await self._db.fetch_one(f"{CREDENTIAL_SELECT} WHERE api_key=$1", (api_key,))
            return None if r is None else credential_from_row(r)

        return await self._cache.load(api_key, fetch)
