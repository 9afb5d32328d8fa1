"""Test helpers shipped with the package (also used by bench/): a signing HTTP client, a settable clock,
tenant seeding through the service layer, and a database snapshot for "nothing changed" checks."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import asyncpg

from cloud.deps import Deps
from cloud.domain import commands as c
from cloud.service import tenants as t
from sync.signing import authorization_header


class SettableClock:
    """Wall-clock time that tests can move forward (the server and the signing client share it)."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


@dataclass(frozen=True, slots=True)
class Response:
    """Status, parsed JSON body and headers of one response."""

    status: int
    body: Any
    headers: dict[str, str]


class PgwClient:
    """HTTP client that signs each request at send time (docs/cloud-api.md)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        api_key: str,
        secret_key: str,
        clock: Any = time.time,
    ) -> None:
        self.session, self.base_url = session, base_url.rstrip("/")
        self.api_key, self.secret_key, self.clock = api_key, secret_key, clock

    def sign(self, method: str, path: str, body: bytes, timestamp: int | None = None) -> str:
        """The Authorization header for one request."""
        ts = int(self.clock()) if timestamp is None else timestamp
        return authorization_header(self.api_key, self.secret_key, method, path.split("?", 1)[0], ts, body)

    async def request(
        self,
        method: str,
        path: str,
        payload: Any = None,
        *,
        raw: bytes | None = None,
        signed: bool = True,
        headers: dict[str, str] | None = None,
        timestamp: int | None = None,
    ) -> Response:
        """Send one request; `raw` bytes win over `payload` (serialised as JSON)."""
        body = raw if raw is not None else (b"" if payload is None else json.dumps(payload).encode("utf-8"))
        sent = {"Content-Type": "application/json", **(headers or {})}
        if signed:
            sent["Authorization"] = self.sign(method, path, body, timestamp)
        async with self.session.request(method, self.base_url + path, data=body, headers=sent) as resp:
            text = await resp.read()
            parsed = json.loads(text) if text else None
            return Response(resp.status, parsed, dict(resp.headers))

    async def post(self, path: str, payload: Any = None, **kw: Any) -> Response:
        """Signed POST."""
        return await self.request("POST", path, payload, **kw)

    async def get(self, path: str, **kw: Any) -> Response:
        """Signed GET."""
        return await self.request("GET", path, **kw)


@dataclass(frozen=True, slots=True)
class Tenant:
    """A seeded partner with one merchant and one store."""

    partner_id: str
    api_key: str
    secret_key: str
    merchant_id: str
    store_id: str
    store_code: str


async def seed_tenant(
    deps: Deps, *, api_key: str | None = None, secret_key: str | None = None, store_code: str = "store_001"
) -> Tenant:
    """Partner -> merchant -> store through the service layer (what `mpac-pgw admin` does)."""
    made = await t.create_partner(c.CreateClientPartner("Partner", api_key, secret_key),
                                  tenants=deps.tenants, clock=deps.clock)  # fmt: skip
    merchant = await t.create_merchant(c.CreateMerchant(made.partner.id, "Merchant"), tenants=deps.tenants,
                                       clock=deps.clock)  # fmt: skip
    store = await t.create_store(
        c.CreateStore(merchant.id, store_code), tenants=deps.tenants, clock=deps.clock
    )
    return Tenant(made.partner.id, made.api_key, made.secret_key, merchant.id, store.id, store.code)


# Bookkeeping, not state: every accepted signed POST adds a replay row (docs/cloud-api.md#replays), every
# request counts against a rate limit, background ticks take a lease (docs/operations.md#workers), a secret's
# use is noted (docs/cloud-api.md#rotating-a-secret).
SNAPSHOT_SKIPS = frozenset({"signature_replays", "rate_counters", "worker_leases", "credential_uses"})


def db_snapshot(path: Path | str) -> dict[str, str]:
    """Per table but SNAPSHOT_SKIPS, a digest of every row (committed data only): `path` is the SQLite file
    (read with plain sqlite3) or a postgresql:// URL."""
    if isinstance(path, str):
        return _in_thread(_pg_snapshot(path))
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")
            if r[0] not in SNAPSHOT_SKIPS
        ]
        digests = {}
        for table in tables:
            rows = conn.execute(f'SELECT * FROM "{table}" ORDER BY 1').fetchall()  # noqa: S608 — names from the schema
            digests[table] = hashlib.sha256(repr(rows).encode()).hexdigest()
        return digests
    finally:
        conn.close()


T = TypeVar("T")


def _in_thread(work: Coroutine[Any, Any, T]) -> T:
    # A synchronous helper called from async tests: its own event loop, on a thread of its own.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, work).result()


async def _pg_snapshot(url: str) -> dict[str, str]:
    conn = await asyncpg.connect(url)
    try:
        tables = [r[0] for r in await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema='public' "
            "AND table_type='BASE TABLE' ORDER BY table_name") if r[0] not in SNAPSHOT_SKIPS]  # fmt: skip
        digests = {}
        for table in tables:
            found = await conn.fetch(f'SELECT * FROM "{table}" ORDER BY 1')  # noqa: S608 — names from the schema
            digests[table] = hashlib.sha256(repr([tuple(r) for r in found]).encode()).hexdigest()
        return digests
    finally:
        await conn.close()


def db_bytes(path: Path | str) -> bytes:
    """Everything the database holds, for "this secret is stored nowhere" checks: every byte of the SQLite
    file, its WAL and shared memory; on PostgreSQL every row of every table, as text."""
    if isinstance(path, str):
        return _in_thread(_pg_dump(path))
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*") if p.is_file())


async def _pg_dump(url: str) -> bytes:
    conn = await asyncpg.connect(url)
    try:
        tables = [r[0] for r in await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema='public' "
            "AND table_type='BASE TABLE'")]  # fmt: skip
        found = [await conn.fetch(f'SELECT "{t}"::text FROM "{t}"') for t in tables]  # noqa: S608 — schema names
        return "\n".join(r[0] for rows in found for r in rows).encode("utf-8")
    finally:
        await conn.close()
