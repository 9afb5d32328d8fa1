"""Reference fake of the cloud's `POST /v1/sync/batches` and `POST /v1/devices/activate`
(docs/sync-protocol.md, docs/cloud-api.md).

It STANDS IN FOR THE REAL ENDPOINT (cloud/, `mpac-pgw serve`) in the uploader's unit and integration tests
and as a fallback peer for the benches, until/unless the real one is used. It is a real aiohttp app on
loopback over a real SQLite file: it verifies the HMAC signature (window, constant time, replay), enforces the
limits (413), device scope (403), validates each item (rejected with a reason, the rest accepted) and dedups
on the unique key (device_id, local_id), answering a duplicate with the same payment_intent_id.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiosqlite
from aiohttp import web
from pydantic import ValidationError
from ulid import ULID

from sync.models import ItemError, SyncBatchEnvelope, SyncItem, hash_matches, raw_local_id, validate_item
from sync.signing import SignatureFormatError, parse_authorization, secret_key_hash, verify, within_window
from sync.wire import MAX_BATCH_BYTES

_SCHEMA = """
CREATE TABLE IF NOT EXISTS intents (
  device_id TEXT NOT NULL, local_id TEXT NOT NULL, payment_intent_id TEXT NOT NULL UNIQUE,
  merchant_ref_id TEXT NOT NULL UNIQUE, seq INTEGER NOT NULL, amount INTEGER NOT NULL, currency TEXT NOT NULL,
  status TEXT NOT NULL, chain_ok INTEGER NOT NULL, received_at INTEGER NOT NULL,
  PRIMARY KEY (device_id, local_id));
CREATE TABLE IF NOT EXISTS activation_codes (code TEXT PRIMARY KEY, store_id TEXT NOT NULL,
  expires_at INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS devices (device_id TEXT PRIMARY KEY, api_key TEXT NOT NULL UNIQUE,
  key_hash TEXT NOT NULL, store_id TEXT NOT NULL, clock_offset_ms INTEGER);
"""


@dataclass(frozen=True, slots=True)
class FakeDevice:
    """A provisioned device credential."""

    device_id: str
    api_key: str
    secret_key: str = field(repr=False)
    store_id: str = "store_1"


def _error(status: int, code: str, message: str, type_: str = "invalid_request_error") -> web.Response:
    return web.json_response({"error": {"type": type_, "code": code, "message": message}}, status=status)


class FakeCloud:
    """State and handlers of the fake; build the app with `create_fake_cloud_app`."""

    def __init__(self, db_path: str, clock: Callable[[], float] = time.time) -> None:
        self.db_path, self.clock = db_path, clock
        self.db: aiosqlite.Connection | None = None
        self.seen_signatures: dict[str, float] = {}
        self.batches = 0
        self.fail_next: list[int] = []  # status codes to answer the next batches with, for tests

    async def open(self) -> None:
        """Open the SQLite file (WAL, synchronous=FULL: a result is durable before it is sent)."""
        self.db = await aiosqlite.connect(self.db_path)
        await self.db.execute("PRAGMA journal_mode=WAL")
        await self.db.execute("PRAGMA synchronous=FULL")
        await self.db.executescript(_SCHEMA)
        await self.db.commit()

    async def close(self) -> None:
        """Close the database."""
        if self.db is not None:
            await self.db.close()

    async def add_device(self, device: FakeDevice) -> None:
        """Provision a device credential directly (tests)."""
        assert self.db is not None
        await self.db.execute("INSERT OR REPLACE INTO devices VALUES (?,?,?,?,NULL)",
                              (device.device_id, device.api_key, secret_key_hash(device.secret_key),
                               device.store_id))
        await self.db.commit()

    async def add_activation_code(self, code: str, store_id: str = "store_1", ttl: float = 86400) -> None:
        """Create a single-use activation code (tests)."""
        assert self.db is not None
        await self.db.execute("INSERT INTO activation_codes VALUES (?,?,?,0)",
                              (code, store_id, int(self.clock() + ttl)))
        await self.db.commit()

    async def intents(self, device_id: str) -> list[tuple[str, str, int]]:
        """(local_id, payment_intent_id, seq) of every intent the device synced, by seq."""
        assert self.db is not None
        rows = await self.db.execute_fetchall(
            "SELECT local_id, payment_intent_id, seq FROM intents WHERE device_id=? ORDER BY seq",
            (device_id,))
        return [(str(r[0]), str(r[1]), int(r[2])) for r in rows]

    # -- handlers -----------------------------------------------------------------------------------------
    async def activate(self, request: web.Request) -> web.Response:
        """POST /v1/devices/activate: single-use, 24 h code → a fresh device credential."""
        assert self.db is not None
        try:
            body = await request.json()
            code = str(body["code"])
        except (ValueError, KeyError, TypeError):
            return _error(400, "invalid_body", "body must be JSON with code, serial_number, model")
        rows = list(await self.db.execute_fetchall(
            "SELECT store_id, expires_at, used FROM activation_codes WHERE code=?", (code,)))
        if not rows:
            return _error(404, "activation_code_not_found", "unknown activation code")
        store_id, expires_at, used = rows[0]
        if used:
            return _error(409, "activation_code_used", "activation code already used")
        if expires_at < self.clock():
            return _error(410, "activation_code_expired", "activation code expired")
        device = FakeDevice(f"dev_{ULID()}", f"pk_dev_{secrets.token_hex(12)}",
                            f"sk_dev_{secrets.token_hex(24)}", str(store_id))
        await self.db.execute("UPDATE activation_codes SET used=1 WHERE code=?", (code,))
        await self.add_device(device)
        return web.json_response({"device_id": device.device_id, "api_key": device.api_key,
                                  "secret_key": device.secret_key, "merchant_id": "mer_fake",
                                  "store_id": device.store_id}, status=201)

    async def _authenticate(self, request: web.Request, body: bytes) -> tuple[str, str] | web.Response:
        assert self.db is not None
        try:
            parsed = parse_authorization(request.headers.get("Authorization", ""))
        except SignatureFormatError:
            return _error(401, "invalid_authorization", "missing or malformed Authorization",
                          "authentication_error")
        rows = list(await self.db.execute_fetchall(
            "SELECT device_id, key_hash, store_id FROM devices WHERE api_key=?", (parsed.api_key,)))
        now = self.clock()
        if not rows or not within_window(parsed.timestamp, now):
            return _error(401, "invalid_signature", "signature invalid or expired", "authentication_error")
        if not verify(str(rows[0][1]), parsed, request.method, request.path, body):
            return _error(401, "invalid_signature", "signature invalid or expired", "authentication_error")
        if parsed.signature in self.seen_signatures:
            return _error(401, "replayed_request", "this signature was already used", "authentication_error")
        self.seen_signatures = {s: t for s, t in self.seen_signatures.items() if now - t <= 300}
        self.seen_signatures[parsed.signature] = now
        return str(rows[0][0]), str(rows[0][2])

    async def batches_handler(self, request: web.Request) -> web.Response:
        """POST /v1/sync/batches."""
        body = await request.read()
        if len(body) > MAX_BATCH_BYTES:
            return _error(413, "batch_too_large", "batch body over 1 MiB")
        auth = await self._authenticate(request, body)
        if isinstance(auth, web.Response):
            return auth
        if self.fail_next:
            return _error(self.fail_next.pop(0), "injected", "injected failure", "api_error")
        try:
            envelope = SyncBatchEnvelope.model_validate_json(body)
        except ValidationError as err:
            too_many = any(e["type"] == "too_long" for e in err.errors())
            return _error(413 if too_many else 400, "invalid_batch", "batch envelope invalid")
        if envelope.device_id != auth[0]:
            return _error(403, "device_mismatch", "device_id is not this credential's", "permission_error")
        self.batches += 1
        results = await self._store(envelope)
        await self._record_offset(auth[0], envelope.sent_at)
        return web.json_response({"batch_id": envelope.batch_id, "server_time": int(self.clock() * 1000),
                                  "results": results})

    async def _record_offset(self, device_id: str, sent_at: int) -> None:
        assert self.db is not None
        offset = int(self.clock() * 1000) - sent_at
        await self.db.execute("UPDATE devices SET clock_offset_ms=? WHERE device_id=?", (offset, device_id))
        await self.db.commit()

    async def _store(self, envelope: SyncBatchEnvelope) -> list[dict[str, Any]]:
        """One transaction: look up known keys, insert the new items set-based, answer in order."""
        assert self.db is not None
        device = envelope.device_id
        ids = [raw_local_id(raw) for raw in envelope.items]
        known = await self._known(device, ids)
        refs = await self._used_refs([raw.get("intent", {}).get("merchant_ref_id") for raw in envelope.items
                                      if isinstance(raw, dict) and isinstance(raw.get("intent"), dict)])
        results: list[dict[str, Any]] = []
        rows: list[tuple[Any, ...]] = []
        now = int(self.clock() * 1000)
        for raw, local_id in zip(envelope.items, ids, strict=True):
            if local_id in known:
                results.append({"local_id": local_id, "status": "duplicate",
                                "payment_intent_id": known[local_id]})
                continue
            item = validate_item(raw)
            if isinstance(item, SyncItem) and item.intent.merchant_ref_id in refs:
                item = ItemError(code="merchant_ref_id_in_use", message="merchant_ref_id already used",
                                 param="intent.merchant_ref_id")
            if isinstance(item, ItemError):
                results.append({"local_id": local_id, "status": "rejected", "error": item.model_dump()})
                continue
            pi_id = f"pi_{ULID()}"
            known[local_id], refs = pi_id, refs | {item.intent.merchant_ref_id}
            rows.append((device, local_id, pi_id, item.intent.merchant_ref_id, item.seq, item.intent.amount,
                         item.intent.currency, item.intent.status, int(hash_matches(raw)), now))
            results.append({"local_id": local_id, "status": "accepted", "payment_intent_id": pi_id})
        await self.db.executemany("INSERT INTO intents VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
        await self.db.commit()
        return results

    async def _known(self, device: str, ids: list[str]) -> dict[str, str]:
        assert self.db is not None
        marks = ",".join("?" * len(ids)) or "''"
        rows = await self.db.execute_fetchall(
            f"SELECT local_id, payment_intent_id FROM intents WHERE device_id=? AND local_id IN ({marks})",  # noqa: S608 -- only placeholders are interpolated
            (device, *ids))
        return {str(r[0]): str(r[1]) for r in rows}

    async def _used_refs(self, refs: list[Any]) -> set[str]:
        assert self.db is not None
        wanted = [r for r in refs if isinstance(r, str)]
        marks = ",".join("?" * len(wanted)) or "''"
        rows = await self.db.execute_fetchall(
            f"SELECT merchant_ref_id FROM intents WHERE merchant_ref_id IN ({marks})", wanted)  # noqa: S608 -- placeholders only
        return {str(r[0]) for r in rows}


FAKE_CLOUD = web.AppKey("fake_cloud", FakeCloud)


def create_fake_cloud_app(cloud: FakeCloud) -> web.Application:
    """The aiohttp app; opens and closes the database in cleanup_ctx."""
    app = web.Application(client_max_size=MAX_BATCH_BYTES * 2)
    app[FAKE_CLOUD] = cloud

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        await cloud.open()
        yield
        await cloud.close()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_post("/v1/devices/activate", cloud.activate)
    app.router.add_post("/v1/sync/batches", cloud.batches_handler)
    app.router.add_get("/health", _health)
    return app


async def _health(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})
