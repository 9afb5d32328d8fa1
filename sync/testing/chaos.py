"""The exactly-once chaos run (issue 5): agent and cloud as real processes, the chaos proxy between them, the
agent SIGKILLed and restarted at random moments, the cloud SIGKILLed and restarted once mid-run; afterwards
the cloud's intents for the device must equal the agent's sales exactly. Seeded: the seed replays the plan.
Used by tests/e2e/sync/test_chaos.py (short) and bench/sync_chaos.py (long)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import aiosqlite

from sync.client import DeviceCredential
from sync.testing.processes import (
    AdminCommandMissing,
    AgentProcess,
    CloudProcess,
    provision_real_device,
    real_cloud_intents,
    real_sync_endpoint_exists,
)
from sync.testing.proxy import ChaosConfig, ChaosProxy
from sync.testing.seed import seed_sales

FINAL_DRAIN_S = 180.0


class ChaosUnavailable(RuntimeError):
    """The chosen cloud cannot run the scenario (e.g. the real sync endpoint is not there yet)."""


@dataclass(frozen=True, slots=True)
class ChaosPlan:
    """What to do; everything random is drawn from `seed`."""

    cycles: int = 30
    seed: int = 1
    cloud: str = "reference"  # or "real"
    drop: float = 0.15
    swallow: float = 0.2
    max_sales_per_cycle: int = 25
    max_alive_s: float = 4.0  # the whole agent needs ~1-3 s to start: kills land before and after
    delay: float = 0.4


@dataclass
class ChaosReport:
    """The comparison of both ends after the run."""

    seed: int
    cycles: int
    agent_sales: int = 0
    cloud_intents: int = 0
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    not_acked: int = 0
    restarts_resending: int = 0
    proxy: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        """None missing, none twice, every pi id agreed, every sale acked."""
        faults = self.missing or self.extra or self.mismatched or self.duplicated or self.not_acked
        return not faults and self.agent_sales == self.cloud_intents

    def summary(self) -> str:
        """One line for humans."""
        return (f"seed={self.seed} cycles={self.cycles} agent_sales={self.agent_sales} "
                f"cloud_intents={self.cloud_intents} missing={len(self.missing)} extra={len(self.extra)} "
                f"duplicated={len(self.duplicated)} mismatched={len(self.mismatched)} "
                f"not_acked={self.not_acked} restarts_resending={self.restarts_resending} "
                f"proxy={self.proxy} elapsed={self.elapsed_s:.1f}s")


async def _provision(plan: ChaosPlan, cloud: CloudProcess) -> DeviceCredential:
    if plan.cloud == "reference":
        cred = DeviceCredential("dev_chaos", "pk_dev_chaos", f"sk_dev_chaos_{plan.seed}")
        cloud.device_args = ["--device", json.dumps({"device_id": cred.device_id, "api_key": cred.api_key,
                                                     "secret_key": cred.secret_key})]
        await cloud.start()
        return cred
    await cloud.start()
    if not await real_sync_endpoint_exists(cloud.url, cloud.trust()):
        await cloud.stop()
        raise ChaosUnavailable("the real cloud (mpac-pgw serve) has no POST /v1/sync/batches yet")
    try:
        return await provision_real_device(cloud, f"CHAOS-{plan.seed}")
    except AdminCommandMissing as err:
        await cloud.stop()
        raise ChaosUnavailable(f"the real cloud cannot enroll a device yet: {err}") from err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _agent_config(workdir: Path, cred: DeviceCredential, proxy_port: int, web_port: int,
                  ca_file: Path | None) -> Path:
    state = workdir / "agent"
    state.mkdir(parents=True, exist_ok=True)
    path = workdir / "agent.toml"
    path.write_text(
        f'[agent]\nstate_dir = "{state}"\nserial = "CHAOS-1"\n\n[web]\nport = {web_port}\n\n'
        f'[cloud]\nurl = "{"https" if ca_file else "http"}://127.0.0.1:{proxy_port}"\n'
        + (f'ca_file = "{ca_file}"\n' if ca_file else "") + f'device_id = "{cred.device_id}"\n'
        f'api_key = "{cred.api_key}"\nsecret_key = "{cred.secret_key}"\ntimeout_s = 5.0\n', encoding="utf-8")
    return path


async def _sell(web_port: int, cycle: int, rng: random.Random) -> None:
    """Cash sales through the agent's own API while it lives (refused connections are expected)."""
    url = f"http://127.0.0.1:{web_port}/api/sales"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        for n in range(1000):
            body = {"amount": rng.randint(100, 9000), "payment_method": "cash", "cash_received": 10_000,
                    "merchant_ref_id": f"api-{cycle}-{n}"}
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.post(url, json=body) as resp:
                    await resp.read()
            await asyncio.sleep(0.05)


async def _pending(db_path: Path) -> int:
    async with aiosqlite.connect(db_path) as conn:
        await conn.execute("PRAGMA busy_timeout = 5000")
        rows = list(await conn.execute_fetchall(
            "SELECT COUNT(*) FROM sales WHERE sync_state IN ('queued', 'sending')"))
    return int(rows[0][0])


async def _seed(db_path: Path, n: int, cycle: int) -> None:
    async with aiosqlite.connect(db_path, isolation_level=None) as conn:
        await conn.execute("PRAGMA busy_timeout = 10000")
        await seed_sales(conn, n, prefix=f"c{cycle}", created_at=int(time.time() * 1000))


@dataclass
class _Cycles:
    plan: ChaosPlan
    rng: random.Random
    agent: AgentProcess
    cloud: CloudProcess
    db_path: Path
    web_port: int

    async def one(self, cycle: int) -> None:
        """Sales queued, agent started and selling, killed after a random time; the cloud dies once.

        The backlog is seeded only while the agent is dead: the agent's writer owns the chain head while
        it runs, so sales during its life go through its own API."""
        plan, rng = self.plan, self.rng
        await _seed(self.db_path, rng.randint(1, plan.max_sales_per_cycle), cycle)
        await self.agent.start()
        selling = asyncio.ensure_future(_sell(self.web_port, cycle, random.Random(rng.random())))  # noqa: S311
        try:
            await self._live(cycle)
        finally:
            selling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await selling

    async def _live(self, cycle: int) -> None:
        plan, rng = self.plan, self.rng
        alive = rng.uniform(0.05, plan.max_alive_s)
        if cycle == plan.cycles // 2:
            await asyncio.sleep(alive / 2)
            await self.cloud.kill()  # the cloud dies mid-run, with the agent sending
            await self.cloud.start()
            alive /= 2
        await asyncio.sleep(alive)
        await self.agent.kill()


async def run_chaos(plan: ChaosPlan, workdir: Path) -> ChaosReport:
    """Run the plan in `workdir`; raise ChaosUnavailable if the cloud cannot take part."""
    started = time.monotonic()
    rng = random.Random(plan.seed)  # noqa: S311 -- replayable chaos, not crypto
    cloud = CloudProcess.https(plan.cloud, workdir)  # the agent syncs over verified HTTPS, via the proxy
    cred = await _provision(plan, cloud)
    faults = ChaosConfig(plan.drop, plan.swallow, plan.seed, delay=plan.delay)
    proxy = ChaosProxy("127.0.0.1", cloud.port, faults)
    web_port = _free_port()
    config = _agent_config(workdir, cred, await proxy.start(), web_port, cloud.ca_file)
    agent = AgentProcess(config, workdir / "agent.log")
    db_path = workdir / "agent" / "agent.sqlite3"
    try:
        await agent.start(wait_ready=True)  # first start migrates the database
        await agent.kill()
        cycles = _Cycles(plan, rng, agent, cloud, db_path, web_port)
        for cycle in range(plan.cycles):
            await cycles.one(cycle)
        proxy.config = ChaosConfig()  # network heals: the last run must drain everything
        await agent.start()
        async with asyncio.timeout(FINAL_DRAIN_S):
            while await _pending(db_path):  # noqa: ASYNC110 -- polls another process's database
                await asyncio.sleep(0.1)
        await agent.stop()
        report = await _compare(plan, cloud, cred, db_path)
    finally:
        await agent.kill()
        await proxy.stop()
        await cloud.stop()
    report.proxy = {"connections": proxy.stats.connections, "exchanges": proxy.stats.exchanges,
                    "dropped": proxy.stats.dropped, "swallowed": proxy.stats.swallowed}
    report.elapsed_s = time.monotonic() - started
    report.restarts_resending = agent.log.read_text(errors="replace").count("left in 'sending'")
    return report


async def _cloud_map(plan: ChaosPlan, cloud: CloudProcess, cred: DeviceCredential) -> list[tuple[str, str]]:
    """(key, payment_intent_id) per cloud intent of the device: key = local_id (reference) or ref (real)."""
    if plan.cloud == "reference":
        with sqlite3.connect(cloud.db_path) as conn:
            rows = conn.execute("SELECT local_id, payment_intent_id FROM intents WHERE device_id = ?",
                                (cred.device_id,)).fetchall()
        return [(str(a), str(b)) for a, b in rows]
    intents: list[dict[str, Any]] = await real_cloud_intents(cloud.url, cred, cloud.trust())
    return [(str(i["merchant_ref_id"]), str(i["id"])) for i in intents]


async def _compare(plan: ChaosPlan, cloud: CloudProcess, cred: DeviceCredential,
                   db_path: Path) -> ChaosReport:
    key = "local_id" if plan.cloud == "reference" else "merchant_ref_id"
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute(f"SELECT {key}, cloud_intent_id, sync_state FROM sales").fetchall()  # noqa: S608 -- key is one of two constants
    agent = {str(k): str(pi) for k, pi, _ in rows}
    pairs = await _cloud_map(plan, cloud, cred)
    seen: dict[str, str] = {}
    report = ChaosReport(plan.seed, plan.cycles, agent_sales=len(agent), cloud_intents=len(pairs))
    for k, pi in pairs:
        if k in seen:
            report.duplicated.append(k)
        seen[k] = pi
    report.missing = sorted(set(agent) - set(seen))
    report.extra = sorted(set(seen) - set(agent))
    report.mismatched = sorted(k for k in set(agent) & set(seen) if agent[k] != seen[k])
    report.not_acked = sum(1 for _, _, state in rows if state != "acked")
    return report
