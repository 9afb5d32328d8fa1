"""Helpers for tests of `mpac-pgw serve --workers N` as real processes: start/stop, connections pinned to one
worker (each response names its worker in X-Worker-Id), seeding, hash-chained batch items, row counts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from cloud.bootstrap import build_deps
from cloud.domain.devices import IssueActivationCode
from cloud.infrastructure.postgres.db import is_postgres_url
from cloud.infrastructure.sqlite.db import sqlite_path
from cloud.service.devices import issue_activation_code
from cloud.settings import Settings
from cloud.testing import Tenant, seed_tenant
from sync.batch import OutboxItem, encode_batch, item_wire_bytes
from sync.signing import authorization_header
from sync.testing.seed import sale_row
from sync.wire import GENESIS_HASH


@dataclass
class Served:
    """One `mpac-pgw serve --workers N` process (the supervisor) and its URL."""

    proc: subprocess.Popen[str]
    host: str
    port: int
    log: Path

    def worker_pids(self) -> list[int]:
        """The supervisor's live child processes (its workers)."""
        with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as fh:
            return [int(p) for p in fh.read().split()]

    def worker_pid(self, worker: str) -> int:
        """The pid of a worker id, from the supervisor's last "worker N started (pid P)" line."""
        found = re.findall(rf"worker {worker} started \(pid (\d+)\)", self.log.read_text())
        return int(found[-1])

    def stop(self) -> int:
        """SIGTERM the supervisor; its exit code (it stops every worker first)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=90)


def start(db_url: str, key: bytes, log: Path, *args: str, workers: int = 2) -> Served:
    """Start `python -m cloud.cli serve --workers N --port 0`; wait for its ready line."""
    env = {**os.environ, "MPAC_PGW_ENCRYPTION_KEY": key.decode()}
    out = log.open("w")
    proc = subprocess.Popen([sys.executable, "-m", "cloud.cli", "serve", "--port", "0", "--db", db_url,
                             "--workers", str(workers), *args],
                            stdout=subprocess.PIPE, stderr=out, text=True, env=env)  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening on http://" not in line:
        proc.kill()
        raise AssertionError(f"serve did not start: {line!r}\n{log.read_text()}")
    host, port = line.split()[-1].removeprefix("http://").rsplit(":", 1)
    return Served(proc, host, int(port), log)


def settings_for(db_url: str, key: bytes) -> Settings:
    """Settings of an in-process storage stack on the same database (seeding, reading back)."""
    return Settings(db_url=db_url, encryption_key=key)


async def seed(db_url: str, key: bytes, *, activation: bool = False) -> tuple[Tenant, str | None]:
    """A fresh partner/merchant/store (and an activation code for it) through the service layer."""
    deps = build_deps(settings_for(db_url, key))
    await deps.db.open()
    try:
        tenant = await seed_tenant(deps)
        code = None
        if activation:
            issued = await issue_activation_code(IssueActivationCode(tenant.store_id), devices=deps.devices,
                                                 tenants=deps.tenants, clock=deps.clock)  # fmt: skip
            code = issued.code
        return tenant, code
    finally:
        await deps.db.close()


async def count(db_url: str, sql: str, *args: Any) -> int:
    """One integer from the database (placeholders: ? on SQLite, $n on PostgreSQL)."""
    if is_postgres_url(db_url):
        conn = await asyncpg.connect(db_url)
        try:
            return int(await conn.fetchval(sql, *args))
        finally:
            await conn.close()
    with contextlib.closing(sqlite3.connect(f"file:{sqlite_path(db_url)}?mode=ro", uri=True)) as conn:
        return int(conn.execute(sql.replace("$1", "?").replace("$2", "?"), args).fetchone()[0])


@dataclass
class Reply:
    """One HTTP answer."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


@dataclass
class Conn:
    """One keep-alive HTTP/1.1 connection: requests on it always reach the same worker."""

    host: str
    port: int
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    worker: str = ""

    async def open(self) -> Conn:
        """Connect and learn which worker accepted the connection."""
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.worker = (await self.request("GET", "/health")).headers["x-worker-id"]
        return self

    async def send(self, method: str, path: str, body: bytes = b"",
                   headers: dict[str, str] | None = None) -> None:  # fmt: skip
        """Write one request (its answer is read by answer())."""
        assert self.writer is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}", f"Content-Length: {len(body)}",
                 *(f"{k}: {v}" for k, v in (headers or {}).items())]  # fmt: skip
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await self.writer.drain()

    async def answer(self) -> Reply:
        """Read one whole response."""
        assert self.reader is not None
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionResetError("the worker closed the connection")
        headers = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return Reply(int(status_line.split()[1]), headers, body)

    async def request(self, method: str, path: str, body: bytes = b"",
                      headers: dict[str, str] | None = None) -> Reply:  # fmt: skip
        """One request and its answer."""
        await self.send(method, path, body, headers)
        return await self.answer()

    async def close(self) -> None:
        """Disconnect."""
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError):
                await self.writer.wait_closed()


@dataclass
class Pinned:
    """One open connection to each worker, by worker id."""

    by_worker: dict[str, Conn] = field(default_factory=dict)

    def __getitem__(self, worker: str) -> Conn:
        return self.by_worker[worker]

    async def close(self) -> None:
        """Close all."""
        for conn in self.by_worker.values():
            await conn.close()


async def pinned(served: Served, workers: int = 2, attempts: int = 200) -> Pinned:
    """Connect until every worker holds one connection (the kernel spreads connections by hash)."""
    found, spare = Pinned(), []
    for _ in range(attempts):
        conn = await Conn(served.host, served.port).open()
        if conn.worker in found.by_worker:
            spare.append(conn)
        else:
            found.by_worker[conn.worker] = conn
        if len(found.by_worker) == workers:
            break
    for conn in spare:
        await conn.close()
    assert len(found.by_worker) == workers, f"reached only workers {sorted(found.by_worker)}"
    return found


def signed(api_key: str, secret: str, method: str, path: str, body: bytes) -> dict[str, str]:
    """Headers of an HMAC-signed JSON request, signed now."""
    auth = authorization_header(api_key, secret, method, path, int(time.time()), body)
    return {"Authorization": auth, "Content-Type": "application/json"}


def chain(count: int, tag: str) -> list[bytes]:
    """`count` hash-chained cash sales of one device from seq 1, as wire items."""
    prev, created, out = GENESIS_HASH, int(time.time() * 1000), []
    for seq in range(1, count + 1):
        row = sale_row(seq, prev, created + seq, f"{tag}-{seq}", 100 + seq)
        prev = row[4]
        out.append(item_wire_bytes(OutboxItem(row[0], seq, row[5].encode("utf-8"), row[4])))
    return out


def batch(device_id: str, items: Sequence[bytes], batch_id: str) -> bytes:
    """A batch body of these wire items."""
    return encode_batch(batch_id, device_id, int(time.time() * 1000), items)
