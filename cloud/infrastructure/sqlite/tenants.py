"""TenantRepository and CredentialResolver on SQLite (provider credentials sealed with a SecretBox).

Credentials and stores are read on every create, so they go through a small in-process ReadCache (see there
for why it stays correct: a write in this process invalidates at once, another process's within CACHE_TTL).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from cloud.domain.errors import Conflict, NotFound
from cloud.domain.ports import ProviderConfigInfo
from cloud.domain.tenants import (
    ClientPartner,
    Credential,
    CredentialKind,
    Merchant,
    Store,
    StoreProviderConfig,
)
from cloud.infrastructure.crypto import SecretBox
from cloud.infrastructure.sqlite.db import Database, Stmt
from cloud.infrastructure.sqlite.intents import ms

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
CACHE_TTL = 1.0  # seconds a cached row may lag a write made by ANOTHER process (e.g. `mpac-pgw admin`)
CACHE_MAX = 10_000

_STORE_COLS = "id, merchant_id, partner_id, code, name, created_at"
_STORE_INSERT = f"INSERT INTO stores ({_STORE_COLS}) VALUES (?, ?, ?, ?, ?, ?)"  # noqa: S608 — constants


def credential_stmt(c: Credential, created_at: float) -> Stmt:
    """The INSERT of one credential row (partner keys here; device enrollment reuses it for device keys)."""
    return Stmt(
        "INSERT INTO credentials (api_key, secret_key_hash, kind, partner_id, merchant_id, store_id,"
        " device_id, active, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (c.api_key, c.secret_key_hash, c.kind.value, c.partner_id, c.merchant_id, c.store_id, c.device_id,
         int(c.active), ms(created_at)),
    )  # fmt: skip


class Generations(Protocol):
    """A database that counts the writes this process committed per table (SQLite and PostgreSQL alike)."""

    def generation(self, table: str) -> int:
        """How many writes to `table` this process committed."""


class ReadCache(Generic[K, V]):
    """Rows of one table, cached in this process. An entry is served only while (a) the table's write
    generation in this process is still the one seen BEFORE the row was read (so any write here, e.g. a
    device suspension, takes effect for the very next request), and (b) it is younger than CACHE_TTL (a write
    by another process is seen within that bound). Bounded: cleared whole when full. Misses are not cached."""

    def __init__(
        self, db: Generations, table: str, ttl: float = CACHE_TTL, max_entries: int = CACHE_MAX
    ) -> None:
        self._db, self._table, self._ttl, self._max = db, table, ttl, max_entries
        self._entries: dict[K, tuple[V, int, float]] = {}

    def generation(self) -> int:
        """Take this BEFORE reading the row that put() will store."""
        return self._db.generation(self._table)

    def get(self, key: K) -> V | None:
        """The cached value if still valid, else None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, generation, at = entry
        if generation != self._db.generation(self._table) or time.monotonic() - at > self._ttl:
            del self._entries[key]
            return None
        return value

    def put(self, key: K, value: V, generation: int) -> None:
        """Remember a value read after generation() returned `generation`."""
        if len(self._entries) >= self._max:
            self._entries.clear()
        self._entries[key] = (value, generation, time.monotonic())

    async def load(self, key: K, fetch: Callable[[], Awaitable[V | None]]) -> V | None:
        """The cached value, else `fetch()`'s, remembered when it is a hit (a falsy value is a miss: an
        unknown key or an empty result is read again next time, and a flood of them takes no memory)."""
        cached = self.get(key)
        if cached is not None:
            return cached
        generation = self.generation()
        value = await fetch()
        if value:
            self.put(key, value, generation)
        return value


# What a Credential is read from (never the sealed issued secret itself: only whether there is one).
CREDENTIAL_SELECT = ("SELECT api_key, secret_key_hash, kind, partner_id, merchant_id, store_id, device_id,"
                     " active, previous_key_hash, previous_expires_at,"
                     " issued_secret_enc IS NOT NULL AS unconfirmed FROM credentials")  # fmt: skip


def credential_from_row(r: Any) -> Credential:
    """A CREDENTIAL_SELECT row, read by column name (SQLite and PostgreSQL rows alike)."""
    expires = r["previous_expires_at"]
    return Credential(
        api_key=r["api_key"], secret_key_hash=r["secret_key_hash"], kind=CredentialKind(r["kind"]),
        partner_id=r["partner_id"], merchant_id=r["merchant_id"], store_id=r["store_id"],
        device_id=r["device_id"], active=bool(r["active"]), previous_key_hash=r["previous_key_hash"],
        previous_expires_at=None if expires is None else expires / 1000, unconfirmed=bool(r["unconfirmed"]),
    )  # fmt: skip


def _store(r: sqlite3.Row) -> Store:
    return Store(r["id"], r["merchant_id"], r["partner_id"], r["code"], r["name"], r["created_at"] / 1000)


class SqliteTenantRepository:
    """Partners, merchants, stores and provider configs."""

    def __init__(self, db: Database, box: SecretBox, cache_ttl: float = CACHE_TTL) -> None:
        self._db = db
        self._box = box
        self._by_id: ReadCache[str, Store] = ReadCache(db, "stores", cache_ttl)
        self._found: ReadCache[tuple[str, str | None, str | None], tuple[Store, ...]]
        self._found = ReadCache(db, "stores", cache_ttl)

    async def add_partner(self, partner: ClientPartner, credential: Credential) -> None:
        """Partner and its first credential in one unit."""
        stmts = [
            Stmt(
                "INSERT INTO client_partners VALUES (?, ?, ?)",
                (partner.id, partner.name, ms(partner.created_at)),
            ),
            credential_stmt(credential, partner.created_at),
        ]
        try:
            await self._db.write(stmts)
        except sqlite3.IntegrityError as err:
            raise Conflict("that api_key is already in use", param="api_key") from err

    async def add_merchant(self, merchant: Merchant) -> None:
        """Insert a merchant under an existing partner."""
        params = (merchant.id, merchant.partner_id, merchant.name, ms(merchant.created_at))
        try:
            await self._db.write([Stmt("INSERT INTO merchants VALUES (?, ?, ?, ?)", params)])
        except sqlite3.IntegrityError as err:
            raise NotFound(f"no client partner {merchant.partner_id}", param="partner") from err

    async def add_store(self, store: Store) -> None:
        """Insert a store; its code is unique within the merchant."""
        params = (store.id, store.merchant_id, store.partner_id, store.code, store.name, ms(store.created_at))
        try:
            await self._db.write([Stmt(_STORE_INSERT, params)])
        except sqlite3.IntegrityError as err:
            raise Conflict(
                f"store code {store.code!r} already exists in this merchant", param="code"
            ) from err

    async def get_merchant(self, merchant_id: str) -> Merchant | None:
        """The merchant, or None."""
        r = await self._db.fetch_one("SELECT * FROM merchants WHERE id=?", (merchant_id,))
        return None if r is None else _merchant(r)

    async def get_store(self, store_id: str) -> Store | None:
        """The store, or None (cached: see ReadCache)."""
        async def fetch() -> Store | None:
            r = await self._db.fetch_one(f"SELECT {_STORE_COLS} FROM stores WHERE id=?", (store_id,))  # noqa: S608
            return None if r is None else _store(r)

        return await self._by_id.load(store_id, fetch)

    async def find_stores(
        self, partner_id: str, code: str | None, merchant_id: str | None
    ) -> Sequence[Store]:
        """Stores of a partner, optionally by code and merchant (at most 2 rows are needed; cached)."""
        sql, params = f"SELECT {_STORE_COLS} FROM stores WHERE partner_id=?", [partner_id]  # noqa: S608
        if code is not None:
            sql, params = sql + " AND code=?", [*params, code]
        if merchant_id is not None:
            sql, params = sql + " AND merchant_id=?", [*params, merchant_id]

        async def fetch() -> tuple[Store, ...]:
            return tuple(_store(r) for r in await self._db.fetch_all(sql + " LIMIT 2", params))

        # "no such store" is not cached: a store created a moment later must be found
        return await self._found.load((partner_id, code, merchant_id), fetch) or ()

    async def set_provider_config(self, config: StoreProviderConfig) -> None:
        """Upsert the sealed credentials of (store, provider)."""
        sealed = self._box.seal(config.credentials)
        stmt = Stmt(
            "INSERT INTO store_provider_configs VALUES (?, ?, ?, ?, ?) ON CONFLICT (store_id, provider) "
            "DO UPDATE SET credentials_enc=excluded.credentials_enc, updated_at=excluded.updated_at",
            (config.id, config.store_id, config.provider, sealed, ms(config.updated_at)),
        )
        try:
            await self._db.write([stmt])
        except sqlite3.IntegrityError as err:
            raise NotFound(f"no store {config.store_id}", param="store") from err

    async def get_provider_config(self, store_id: str, provider: str) -> StoreProviderConfig | None:
        """The config with its credentials decrypted in memory, or None."""
        r = await self._db.fetch_one(
            "SELECT * FROM store_provider_configs WHERE store_id=? AND provider=?", (store_id, provider)
        )
        if r is None:
            return None
        creds = self._box.open(r["credentials_enc"])
        return StoreProviderConfig(r["id"], r["store_id"], r["provider"], creds, r["updated_at"] / 1000)


    async def get_partner(self, partner_id: str) -> ClientPartner | None:
        """The partner, or None."""
        r = await self._db.fetch_one("SELECT * FROM client_partners WHERE id=?", (partner_id,))
        return None if r is None else _partner(r)

    async def list_partners(self) -> Sequence[ClientPartner]:
        """Every partner, oldest first."""
        return [_partner(r) for r in await self._db.fetch_all(
            "SELECT * FROM client_partners ORDER BY created_at, id", ())]  # fmt: skip

    async def list_merchants(self, partner_id: str | None) -> Sequence[Merchant]:
        """Merchants (of one partner when given), oldest first."""
        rows = await self._db.fetch_all(
            "SELECT * FROM merchants WHERE ?1 IS NULL OR partner_id=?1 ORDER BY created_at, id",
            (partner_id,))  # fmt: skip
        return [_merchant(r) for r in rows]

    async def list_stores(self, merchant_id: str | None) -> Sequence[Store]:
        """Stores (of one merchant when given), oldest first."""
        rows = await self._db.fetch_all(
            f"SELECT {_STORE_COLS} FROM stores WHERE ?1 IS NULL OR merchant_id=?1 "  # noqa: S608 — constants
            "ORDER BY created_at, id", (merchant_id,))  # fmt: skip
        return [_store(r) for r in rows]

    async def list_provider_configs(self, store_id: str | None) -> Sequence[ProviderConfigInfo]:
        """Configs (of one store when given) without reading, let alone opening, the sealed credentials."""
        rows = await self._db.fetch_all(
            "SELECT id, store_id, provider, updated_at FROM store_provider_configs "
            "WHERE ?1 IS NULL OR store_id=?1 ORDER BY store_id, provider", (store_id,))  # fmt: skip
        return [ProviderConfigInfo(r["id"], r["store_id"], r["provider"], r["updated_at"] / 1000)
                for r in rows]  # fmt: skip


def _partner(r: sqlite3.Row) -> ClientPartner:
    return ClientPartner(r["id"], r["name"], r["created_at"] / 1000)


def _merchant(r: sqlite3.Row) -> Merchant:
    return Merchant(r["id"], r["partner_id"], r["name"], r["created_at"] / 1000)


class SqliteCredentialResolver:
    """api_key -> Credential from the credentials table (partner and, later, device rows)."""

    def __init__(self, db: Database, cache_ttl: float = CACHE_TTL) -> None:
        self._db = db
        self._cache: ReadCache[str, Credential] = ReadCache(db, "credentials", cache_ttl)

    async def resolve(self, api_key: str) -> Credential | None:
        """The credential for an api_key, or None (cached: a suspension in this process applies at once;
        unknown keys are not cached, so a flood of made-up keys takes no memory)."""
        async def fetch() -> Credential | None:
            r = await self._db.fetch_one(f"{CREDENTIAL_SELECT} WHERE api_key=?", (api_key,))
            return None if r is None else credential_from_row(r)

        return await self._cache.load(api_key, fetch)
