"""bench/fleet.py's side of the cloud: the cloud under test, its tenants, its CPU and what it stored.

See docs/operations.md#fleet-simulator.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from cloud.bootstrap import build_deps
from cloud.cli import build_parser
from cloud.settings import Settings as CloudSettings
from sync.client import DeviceCredential
from sync.signing import authorization_header
from sync.testing.processes import CloudProcess

LIST_PATH = "/v1/payment_intents"


@dataclass
class Provisioned:
    """What the bench created on the cloud."""

    partner: DeviceCredential  # a partner key (device_id unused): lists every intent of the run
    codes: list[str]
    stores: int


async def provision(db_url: str, terminals: int, per_store: int, tag: str) -> Provisioned:
    """A partner, one merchant and store per `per_store` terminals, one activation code per terminal: the
    `mpac-pgw admin` commands, run in this process over one open database."""
    parser, deps = build_parser(), build_deps(CloudSettings.load(os.environ, db_url=db_url))
    await deps.db.open()

    async def admin(*argv: str) -> dict[str, Any]:
        args = parser.parse_args(["admin", *argv, "--db", db_url])
        result: dict[str, Any] = await args.admin_run(args, deps)
        return result

    try:
        partner = await admin("partner", "create", "--name", f"fleet-{tag}")
        codes, stores = [], 0
        for first in range(0, terminals, per_store):
            merchant = await admin("merchant", "create", "--partner", partner["client_partner_id"],
                                   "--name", f"fleet-{tag}-{stores}")
            store = await admin("store", "create", "--merchant", merchant["merchant_id"],
                                "--code", f"fleet-{stores:04d}")
            stores += 1
            for _ in range(min(per_store, terminals - first)):
                code = await admin("activation-code", "--store", store["store_id"])
                codes.append(code["activation_code"])
    finally:
        await deps.db.close()
    return Provisioned(DeviceCredential("", partner["api_key"], partner["secret_key"]), codes, stores)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host).is_loopback
    return host == "localhost"


async def cloud_intents(url: str, partner: DeviceCredential, since: int) -> list[dict[str, Any]]:
    """Every intent the partner sees, created since `since` (Unix s), through the paginated list API."""
    found: list[dict[str, Any]] = []
    after: str | None = None
    async with aiohttp.ClientSession() as session:
        while True:
            query = f"?limit=100&created_gte={since}" + (f"&starting_after={after}" if after else "")
            auth = authorization_header(partner.api_key, partner.secret_key, "GET", LIST_PATH,
                                        int(time.time()), b"")
            async with session.get(url + LIST_PATH + query, headers={"Authorization": auth}) as resp:
                if resp.status == 429:
                    await asyncio.sleep(float(resp.headers.get("Retry-After", "1")))
                    continue
                page = await resp.json()
                if resp.status != 200:
                    raise RuntimeError(f"list failed: {resp.status} {page}")
            found.extend(page["data"])
            if not page["has_more"] or not page["data"]:
                return found
            after = page["data"][-1]["id"]


@contextlib.asynccontextmanager
async def a_cloud(args: argparse.Namespace, work: Path) -> AsyncIterator[tuple[str, str, int | None]]:
    """(base URL, database URL, pid or None) of the cloud under test."""
    if args.cloud:
        yield args.cloud.rstrip("/"), args.db, None
        return
    cloud = CloudProcess("real", work)
    await cloud.start()
    try:
        assert cloud.proc is not None
        yield cloud.url, f"sqlite:///{cloud.db_path}", cloud.proc.pid
    finally:
        await cloud.stop()
