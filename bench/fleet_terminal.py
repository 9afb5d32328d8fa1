"""bench/fleet.py's virtual terminal: its agent database, uploader and timed sender (run in a worker process).

See docs/operations.md#fleet-simulator for what a terminal does and what is measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from agent.adapters.store import AgentDatabase, Store
from agent.adapters.store.outbox import SqliteOutbox
from agent.domain.sale import NewSale
from agent.entrypoints.enroll import activate
from agent.settings import load_settings
from sync.client import DeviceCredential, SyncClient
from sync.errors import BatchRejected, CloudUnreachable, EnrollmentError, SyncError, TransientUploadError
from sync.models import BatchResponse
from sync.testing.proxy import ChaosConfig, ChaosProxy
from sync.uploader import Uploader

Row = tuple[str, str, str | None, int]  # (merchant_ref_id, sync_state, cloud_intent_id, amount) of a sale


# -- measuring -----------------------------------------------------------------------------------------------
@dataclass
class Stats:
    """Batch latencies and outcomes of some terminals (one worker's, or the whole fleet's once merged)."""

    latencies: list[float] = field(default_factory=list)
    items: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    injected: Counter[str] = field(default_factory=Counter)
    results: Counter[str] = field(default_factory=Counter)

    def pct(self, q: float) -> float:
        """Latency percentile in ms (nan with fewer than two batches)."""
        if len(self.latencies) < 2:
            return float("nan")
        return statistics.quantiles(self.latencies, n=1000, method="inclusive")[int(q * 10) - 1] * 1000

    def absorb(self, other: Stats) -> None:
        """Add another worker's figures to these."""
        self.latencies += other.latencies
        self.items += other.items
        self.errors.update(other.errors)
        self.injected.update(other.injected)
        self.results.update(other.results)


def error_kind(err: SyncError) -> str:
    """A short name for a failed batch."""
    if isinstance(err, CloudUnreachable):
        return "network (no answer)"
    if isinstance(err, TransientUploadError):
        return f"HTTP {err.status}"
    if isinstance(err, BatchRejected):
        return f"HTTP {err.status} {err.code}".strip()
    return type(err).__name__


class TimedSender:
    """The uploader's BatchSender around the real SyncClient: times each batch, counts its outcome."""

    def __init__(self, client: SyncClient, stats: Stats, terminal: Terminal) -> None:
        self._client, self._stats, self._terminal = client, stats, terminal

    async def send(self, body: bytes) -> BatchResponse:
        started = time.perf_counter()
        try:
            response = await self._client.send(body)
        except SyncError as err:
            injected = isinstance(err, CloudUnreachable) and self._terminal.proxy is not None
            (self._stats.injected if injected else self._stats.errors)[error_kind(err)] += 1
            raise
        self._stats.latencies.append(time.perf_counter() - started)
        self._stats.items += len(response.results)
        for res in response.results:
            self._stats.results[res.status] += 1
            if res.status == "rejected":
                self._stats.errors[f"item rejected: {res.error.code if res.error else '?'}"] += 1
        return response


async def loop_lag(samples: list[float], stop: asyncio.Event) -> None:
    """How late a 50 ms timer fires: the saturation of the worker process that runs this loop."""
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(0.05)
        samples.append(time.perf_counter() - started - 0.05)


# -- one terminal -------------------------------------------------------------------------------------------
@dataclass
class Terminal:
    """One virtual terminal: its database, credential, uploader and (if it goes offline) its proxy."""

    index: int
    serial: str
    workdir: Path
    source: str | None
    proxy: ChaosProxy | None = None
    session: aiohttp.ClientSession | None = None
    credential: DeviceCredential | None = None
    database: AgentDatabase | None = None
    store: Store | None = None
    outbox: SqliteOutbox | None = None
    client: SyncClient | None = None
    monitor: asyncio.Task[None] | None = None
    lost_acks: float = 0.0
    uploader: Uploader | None = None
    refs: dict[str, int] = field(default_factory=dict)  # merchant_ref_id -> amount, of every sale taken

    async def enroll(self, cloud_url: str, code: str, deadline: float) -> None:
        connector = aiohttp.TCPConnector(local_addr=(self.source, 0) if self.source else None)
        self.session = aiohttp.ClientSession(connector=connector)
        while True:
            try:
                got = await activate(cloud_url, code, self.serial, "fleet-sim", session=self.session)
                break
            except EnrollmentError as err:  # a remote cloud limits activations per source address
                if "(429)" not in str(err) or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(2.0)
        self.credential = DeviceCredential(got.device_id, got.api_key, got.secret_key)

    async def open(self, cloud_url: str, stats: Stats) -> None:
        assert self.credential is not None and self.session is not None
        self.database = await AgentDatabase.open(self.workdir / "agent.sqlite3")
        self.store = await Store.over(self.database, load_settings().offline)
        self.outbox = SqliteOutbox(self.database, self.credential.device_id)
        url = f"http://127.0.0.1:{await self.proxy.start()}" if self.proxy is not None else cloud_url
        self.client = SyncClient(url, self.credential, timeout=30, session=self.session)
        sender = TimedSender(self.client, stats, self)
        self.uploader = Uploader(self.outbox, sender, self.credential.device_id)
        self.monitor = asyncio.create_task(self.uploader.run(self.client.probe))

    async def take_sales(self, n: int, interval: float, tag: str, rng: random.Random) -> None:
        """n cash sales through the agent's store, each kicking the uploader as the sale service does."""
        assert self.store is not None and self.uploader is not None
        await asyncio.sleep(rng.uniform(0, interval))  # terminals do not open at the same instant
        for i in range(n):
            amount = 100 + rng.randrange(9900)
            ref = f"{tag}-{self.serial}-{i}"
            await self.store.record(NewSale(ref, amount, "JPY", "cash", "succeeded",
                                            {"cash_received": amount, "change": 0}, {"lane": 1}))
            self.refs[ref] = amount
            self.uploader.kick()
            await asyncio.sleep(interval * rng.uniform(0.5, 1.5))

    async def outage(self, start: float, duration: float) -> None:
        """Offline from `start` for `duration` s (every exchange dropped), then back, losing some answers."""
        assert self.proxy is not None
        await asyncio.sleep(start)
        self.proxy.config = ChaosConfig(drop=1.0)
        await asyncio.sleep(duration)
        self.proxy.config = ChaosConfig(swallow=self.lost_acks)

    async def drained(self, deadline: float) -> bool:
        """Wait until nothing is queued or sending (the monitor does the work); False at the deadline."""
        assert self.outbox is not None
        while await self.outbox.pending_count():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.2)
        return True

    async def local_sales(self) -> list[Row]:
        """(merchant_ref_id, sync_state, cloud_intent_id, amount) of every stored sale."""
        assert self.database is not None
        rows = await self.database.fetch_all(
            "SELECT merchant_ref_id, sync_state, cloud_intent_id, amount FROM sales ORDER BY seq")
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    async def close(self) -> None:
        if self.monitor is not None:
            self.monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.monitor
        if self.proxy is not None:
            await self.proxy.stop()
        if self.database is not None:
            await self.database.close()
        if self.session is not None:
            await self.session.close()


def source_address(i: int) -> str:
    """Terminal i's own loopback address, 127.10.x.y (Linux answers all of 127/8 on lo)."""
    high, low = divmod(i, 250)
    return f"127.10.{high}.{low + 2}"
