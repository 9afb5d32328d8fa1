"""Helpers for device and sync tests: enroll a device over HTTP, build hash-chained batches, post them."""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from ulid import ULID
from uuid6 import uuid7

from cloud.domain.devices import IssueActivationCode
from cloud.service.devices import issue_activation_code
from cloud.testing import PgwClient, Response, Tenant
from sync.wire import GENESIS_HASH, item_hash

from ..conftest import Pgw

BATCHES = "/v1/sync/batches"
_refs = itertools.count(1)


@dataclass(frozen=True, slots=True)
class DeviceKeys:
    """What /v1/devices/activate returned."""

    device_id: str
    api_key: str
    secret_key: str
    merchant_id: str
    store_id: str


async def new_code(pgw: Pgw, store_id: str) -> str:
    """A fresh activation code through the service layer (what `admin activation-code` does)."""
    issued = await issue_activation_code(IssueActivationCode(store_id), devices=pgw.deps.devices,
                                         tenants=pgw.deps.tenants, clock=pgw.clock)  # fmt: skip
    return issued.code


async def activate(pgw: Pgw, body: Any) -> Response:
    """POST /v1/devices/activate without any signature."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with pgw.session.post(pgw.url + "/v1/devices/activate", data=raw,
                                headers={"Content-Type": "application/json"}) as resp:  # fmt: skip
        text = await resp.read()
        return Response(resp.status, json.loads(text) if text else None, dict(resp.headers))


async def enroll(pgw: Pgw, tenant: Tenant, serial: str = "SN-1") -> DeviceKeys:
    """Code + activation, asserting 201."""
    resp = await activate(pgw, {"code": await new_code(pgw, tenant.store_id), "serial_number": serial,
                                "model": "P2"})  # fmt: skip
    assert resp.status == 201, resp.body
    return DeviceKeys(**resp.body)


def device_client(pgw: Pgw, keys: DeviceKeys) -> PgwClient:
    """A client signing with the device credential."""
    return PgwClient(pgw.session, pgw.url, keys.api_key, keys.secret_key, pgw.clock)


def sale(method: str = "cash", status: str = "succeeded", amount: int = 1200, **extra: Any) -> dict[str, Any]:
    """The `intent` of an item: a finished cash or card sale with a fresh merchant_ref_id."""
    mode = {"cash": "manual", "card": "external", "qr_mpm": "pgw_processed"}[method]
    result: dict[str, Any] = ({"cash_received": amount + 800, "change": 800} if method == "cash" else
                              {"status": "approved", "approval_code": "A1", "card_brand": "visa",
                               "card_last_4": "4242", "entry_method": "ic"})  # fmt: skip
    body = {"amount": amount, "currency": "JPY", "processing_mode": mode, "payment_method_type": method,
            "merchant_ref_id": f"sale-{next(_refs)}-{ULID()}", "status": status, "result": result,
            "metadata": {"lane": 1}}  # fmt: skip
    return {**body, **extra}


@dataclass
class Chain:
    """A device's hash chain as the agent builds it (seq gap-free, prev_hash linked)."""

    device_id: str
    seq: int = 0
    head: str = GENESIS_HASH
    items: list[dict[str, Any]] = field(default_factory=list)

    def add(self, intent: dict[str, Any] | None = None, *, skip_seq: int = 0,
            prev_hash: str | None = None) -> dict[str, Any]:  # fmt: skip
        """Append one item (optionally leaving a seq gap or linking to a wrong prev_hash)."""
        self.seq += 1 + skip_seq
        item: dict[str, Any] = {
            "local_id": str(uuid7()), "seq": self.seq, "created_at": int(time.time() * 1000),
            "prev_hash": prev_hash or self.head, "intent": intent or sale(),
        }  # fmt: skip
        item["hash"] = item_hash(item["prev_hash"], item)
        self.head = item["hash"]
        self.items.append(item)
        return item

    def batch(self, items: list[dict[str, Any]], device_id: str | None = None) -> dict[str, Any]:
        """A batch envelope around the items."""
        return {"batch_id": str(ULID()), "device_id": device_id or self.device_id,
                "sent_at": int(time.time() * 1000), "items": items}  # fmt: skip


async def post_batch(client: PgwClient, batch: dict[str, Any]) -> Response:
    """POST a batch, signed with the client's credential."""
    return await client.post(BATCHES, batch)
