"""Cloud and agent as real processes for the e2e chaos test and the benches.

`CloudProcess` runs either the REAL cloud (`python -m cloud.cli serve`, the mpac-pgw console script) or the
reference fake endpoint (`python -m sync.testing`); `AgentProcess` runs the agent's sync monitor. Both can be
SIGKILLed and restarted on the same port / state directory. `CloudProcess.https(...)` serves over HTTPS with a
throwaway CA (sync.testing.pki); every call made from here then verifies it through `CloudSession`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync.client import DeviceCredential
from sync.http import CloudSession, encode_json
from sync.testing.pki import ServerFiles, write_demo_pki
from sync.tls import CloudTrust

READY_S = 30.0
_DRAINS: set[asyncio.Future[None]] = set()
_PORT_RE = re.compile(r"https?://[0-9.]+:(\d+)")


async def _spawn(argv: Sequence[str], log: Path, env: dict[str, str] | None = None,
                 ready: str | None = None) -> tuple[asyncio.subprocess.Process, int]:
    """Start a process; stdout goes to `log`; wait for a line containing `ready` and parse its port."""
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT, env=env)
    assert proc.stdout is not None
    port = 0
    if ready is not None:
        async with asyncio.timeout(READY_S):
            while True:
                line = (await proc.stdout.readline()).decode("utf-8", "replace")
                if not line:
                    raise RuntimeError(f"{argv[2:4]} exited before it was ready; see {log}")
                with log.open("a") as fh:
                    fh.write(line)
                if ready in line:
                    match = _PORT_RE.search(line)
                    port = int(match.group(1)) if match else 0
                    break
    task = asyncio.ensure_future(_drain_output(proc, log))
    _DRAINS.add(task)
    task.add_done_callback(_DRAINS.discard)
    return proc, port


async def _drain_output(proc: asyncio.subprocess.Process, log: Path) -> None:
    assert proc.stdout is not None
    with log.open("ab") as fh:
        while chunk := await proc.stdout.read(65536):
            fh.write(chunk)


async def _kill(proc: asyncio.subprocess.Process | None, sig: int = signal.SIGKILL) -> None:
    if proc is None or proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    async with asyncio.timeout(30):
        await proc.wait()


class AdminCommandMissing(RuntimeError):
    """The cloud's admin CLI lacks a command the scenario needs (not landed yet)."""


@dataclass
class CloudProcess:
    """A cloud process on a fixed port (after the first start), restartable."""

    kind: str  # "real" (cloud/, mpac-pgw) or "reference" (sync.testing)
    workdir: Path
    port: int = 0
    proc: asyncio.subprocess.Process | None = None
    device_args: list[str] = field(default_factory=list)
    tls: ServerFiles | None = None  # served over HTTPS with these files
    ca_file: Path | None = None  # the CA that signed them: what clients trust

    @classmethod
    def https(cls, kind: str, workdir: Path) -> CloudProcess:
        """A cloud served over HTTPS with a fresh throwaway CA and certificate in `workdir/tls`."""
        ca_file, files = write_demo_pki(workdir / "tls")
        return cls(kind, workdir, tls=files, ca_file=ca_file)

    @property
    def db_path(self) -> Path:
        return self.workdir / f"{self.kind}-cloud.sqlite3"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def trust(self) -> CloudTrust:
        """How clients verify this cloud (its CA; the system store for plain HTTP, unused there)."""
        return CloudTrust(self.ca_file)

    def argv(self) -> list[str]:
        tls = [] if self.tls is None else ["--tls-cert", str(self.tls.cert), "--tls-key", str(self.tls.key)]
        if self.kind == "real":
            return [sys.executable, "-m", "cloud.cli", "serve", "--port", str(self.port),
                    "--db", f"sqlite:///{self.db_path}", *tls]
        return [sys.executable, "-m", "sync.testing", "--db", str(self.db_path), "--port", str(self.port),
                *self.device_args, *tls]

    async def start(self) -> None:
        """Start (or restart on the same port) and wait for the ready line."""
        log = self.workdir / f"{self.kind}-cloud.log"
        self.proc, self.port = await _spawn(self.argv(), log, ready="listening")

    async def kill(self) -> None:
        """SIGKILL: no clean shutdown."""
        await _kill(self.proc)

    async def stop(self) -> None:
        """SIGTERM and wait."""
        await _kill(self.proc, signal.SIGTERM)

    async def admin(self, *args: str) -> dict[str, Any]:
        """Run `mpac-pgw admin …` against this cloud's database; return its JSON."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cloud.cli", "admin", *args, "--db", f"sqlite:///{self.db_path}",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        if proc.returncode == 2 and b"invalid choice" in err:
            raise AdminCommandMissing(f"mpac-pgw admin {args[0]} does not exist")
        if proc.returncode != 0:
            raise RuntimeError(f"mpac-pgw admin {' '.join(args)} failed: {err.decode()[:500]}")
        result: dict[str, Any] = json.loads(out)
        return result


async def real_sync_endpoint_exists(url: str, trust: CloudTrust | None = None) -> bool:
    """Does this cloud route POST /v1/sync/batches (anything but 404/405 without credentials)?"""
    async with CloudSession(url, timeout_s=10, trust=trust) as session:
        reply = await session.request("POST", "/v1/sync/batches", body=b"{}", signed=False)
    return reply.status not in (404, 405)


async def provision_real_device(cloud: CloudProcess, serial: str) -> DeviceCredential:
    """partner → merchant → store → activation code → POST /v1/devices/activate, as a technician would."""
    partner = await cloud.admin("partner", "create", "--name", "chaos-partner")
    merchant = await cloud.admin("merchant", "create", "--partner", partner["client_partner_id"],
                                 "--name", "chaos-merchant")
    store = await cloud.admin("store", "create", "--merchant", merchant["merchant_id"], "--code", "chaos-1")
    code = await cloud.admin("activation-code", "--store", store["store_id"])
    body = encode_json({"code": code["activation_code"], "serial_number": serial, "model": "chaos"})
    async with CloudSession(cloud.url, trust=cloud.trust()) as session:
        reply = await session.request("POST", "/v1/devices/activate", body=body, signed=False)
    if reply.status != 201:
        raise RuntimeError(f"activation failed: {reply.status} {reply.body[:300]!r}")
    got = json.loads(reply.body)
    return DeviceCredential(got["device_id"], got["api_key"], got["secret_key"])


async def real_cloud_intents(url: str, cred: DeviceCredential,
                             trust: CloudTrust | None = None) -> list[dict[str, Any]]:
    """Every intent the device's key can list (its own store), through the paginated list API."""
    found: list[dict[str, Any]] = []
    after: str | None = None
    async with CloudSession(url, cred, trust=trust) as session:
        for _ in range(100_000):
            query = "?limit=100" + (f"&starting_after={after}" if after else "")
            reply = await session.request("GET", "/v1/payment_intents" + query)
            page = json.loads(reply.body)
            if reply.status != 200:
                raise RuntimeError(f"list failed: {reply.status} {page}")
            found.extend(page["data"])
            if not page["has_more"] or not page["data"]:
                return found
            after = page["data"][-1]["id"]
    return found


@dataclass
class AgentProcess:
    """The whole agent as a process (`mpac-agent run --config FILE`)."""

    config: Path
    log: Path
    argv_prefix: list[str] = field(
        default_factory=lambda: [sys.executable, "-m", "agent.entrypoints.cli", "run"])
    proc: asyncio.subprocess.Process | None = None

    async def start(self, *, wait_ready: bool = False) -> None:
        """Start; by default without waiting for readiness (a kill may land at any moment of start-up)."""
        ready = "mpac-agent ready" if wait_ready else None
        self.proc, _ = await _spawn([*self.argv_prefix, "--config", str(self.config)], self.log,
                                    env=dict(os.environ), ready=ready)

    async def kill(self) -> None:
        """SIGKILL."""
        await _kill(self.proc)

    async def stop(self) -> None:
        """SIGTERM."""
        await _kill(self.proc, signal.SIGTERM)
