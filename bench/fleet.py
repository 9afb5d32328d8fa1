"""Fleet simulator: N virtual terminals taking sales offline-first and syncing them to one cloud.

    .venv/bin/python bench/fleet.py [--terminals 100] [--sales-per-terminal 10] [--seconds 300]
                                    [--offline-fraction 0.2] [--cloud URL --db sqlite:///path]

Each virtual terminal is what a real one runs, minus the screen and the devices: it is enrolled with its own
one-time activation code through the agent's activation call (POST /v1/devices/activate), keeps its sales in
its own agent database (agent/adapters/store: the group-commit writer, the hash chain, the offline caps, the
outbox) and syncs them with the agent's uploader (sync/uploader.py: the monitor loop, kicked after each sale,
jittered backoff, probing while offline) through the signed SyncClient. Terminals connect from their own
loopback addresses (127.10.x.y) when the cloud is on loopback, as a fleet comes from many addresses.

A fraction of the terminals sit behind a loopback proxy (sync/testing/proxy.py) that drops everything while
they are offline (--offline-seconds, starting at a random moment of their day) and, once they are back,
loses the answer of a few exchanges after the cloud processed them (--lost-acks), so the resends must be
answered `duplicate`. Terminals are spread over stores of --terminals-per-store (one merchant each).

At the end every terminal's queue must be empty and exactly-once must hold: each sale taken is acked on its
terminal with an intent id, the cloud lists exactly one intent per sale (same merchant_ref_id, amount and
pi_ id), and no other. Printed: what the run used, sync batch latency p50/p95/p99 (successful batches, as
the terminal measures them), batches and items/s, errors by kind (injected faults separately), the bench
process's event-loop lag and the cloud's CPU time. Exit 1 if exactly-once fails, a sale is left pending,
an unexpected error happened, or --max-p95-ms is given and exceeded.

Without --cloud, a cloud (`mpac-pgw serve`) is started on loopback over a temp SQLite file. With --cloud URL,
--db must name that cloud's database (sqlite:///…, readable and writable from here) so the bench can create
its partner, stores and activation codes, exactly as `mpac-pgw admin` would.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from ulid import ULID

from agent.adapters.store import AgentDatabase, Store
from agent.adapters.store.outbox import SqliteOutbox
from agent.domain.sale import NewSale
from agent.entrypoints.enroll import activate
from agent.settings import load_settings
from cloud.bootstrap import build_deps
from cloud.cli import build_parser
from cloud.settings import Settings as CloudSettings
from sync.client import DeviceCredential, SyncClient
from sync.errors import BatchRejected, CloudUnreachable, EnrollmentError, SyncError, TransientUploadError
from sync.models import BatchResponse
from sync.signing import authorization_header
from sync.testing.processes import CloudProcess
from sync.testing.proxy import ChaosConfig, ChaosProxy
from sync.uploader import Uploader

LIST_PATH = "/v1/payment_intents"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--terminals", type=int, default=100, help="virtual terminals (default 100)")
    p.add_argument("--sales-per-terminal", type=int, default=10,
                   help="sales each terminal takes (default 10)")
    p.add_argument("--sale-interval", type=float, default=2.0,
                   help="mean seconds between two sales of one terminal, jittered ±50%% (default 2)")
    p.add_argument("--seconds", type=float, default=300.0,
                   help="bound on the whole run, enrollment to verification (default 300)")
    p.add_argument("--offline-fraction", type=float, default=0.2,
                   help="share of terminals that go offline once and come back (default 0.2)")
    p.add_argument("--offline-seconds", type=float, default=3.0,
                   help="how long they stay offline, within their selling time (default 3)")
    p.add_argument("--lost-acks", type=float, default=0.1,
                   help="while back online, share of their exchanges whose answer is lost (default 0.1)")
    p.add_argument("--terminals-per-store", type=int, default=10, help="terminals per store (default 10)")
    p.add_argument("--enroll-concurrency", type=int, default=32, help="activations in flight (default 32)")
    p.add_argument("--cloud", help="an existing cloud's base URL (default: start one on loopback)")
    p.add_argument("--db", help="with --cloud: that cloud's database URL, sqlite:///path (for provisioning)")
    p.add_argument("--seed", type=int, default=None, help="seed of the offline schedule (default: random)")
    p.add_argument("--max-p95-ms", type=float, default=None, help="exit 1 if sync p95 is above this")
    args = p.parse_args(argv)
    if args.cloud and not args.db:
        p.error("--cloud needs --db (the cloud's database) to create the stores and activation codes")
    if args.terminals < 1 or args.sales_per_terminal < 0 or args.terminals_per_store < 1:
        p.error("--terminals and --terminals-per-store must be ≥ 1, --sales-per-terminal ≥ 0")
    return args


# -- the cloud and its tenants -------------------------------------------------------------------------------
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


# -- measuring -----------------------------------------------------------------------------------------------
@dataclass
class Stats:
    """Batch latencies and outcomes of the whole fleet."""

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
    """How late a 50 ms timer fires: the bench process's own saturation."""
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

    async def local_sales(self) -> list[tuple[str, str, str | None, int]]:
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


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host).is_loopback
    return host == "localhost"


# -- verification -------------------------------------------------------------------------------------------
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


def exactly_once(terminals: list[Terminal], local: list[list[tuple[str, str, str | None, int]]],
                 intents: list[dict[str, Any]]) -> list[str]:
    """Every difference between the sales taken, the terminals' queues and the cloud's intents."""
    problems: list[str] = []
    by_ref = Counter(i["merchant_ref_id"] for i in intents)
    cloud = {i["merchant_ref_id"]: i for i in intents}
    taken: dict[str, int] = {}
    for term, rows in zip(terminals, local, strict=True):
        taken.update(term.refs)
        if len(rows) != len(term.refs):
            problems.append(f"{term.serial}: {len(rows)} sales stored, {len(term.refs)} taken")
        for ref, state, pi_id, amount in rows:
            intent = cloud.get(ref)
            if state != "acked" or not pi_id:
                problems.append(f"{term.serial} {ref}: {state}, intent {pi_id}")
            elif intent is None:
                problems.append(f"{term.serial} {ref}: acked as {pi_id} but not in the cloud")
            elif intent["id"] != pi_id or intent["amount"] != amount or intent["status"] != "succeeded":
                problems.append(f"{term.serial} {ref}: cloud has {intent['id']} {intent['amount']} "
                                f"{intent['status']}, terminal {pi_id} {amount}")
    problems += [f"{ref}: {n} intents in the cloud" for ref, n in by_ref.items() if n != 1]
    problems += [f"{ref}: in the cloud, never taken" for ref in set(cloud) - set(taken)]
    return problems


# -- the run -------------------------------------------------------------------------------------------------
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


async def gather_bounded(coros: list[Any], limit: int) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(coro: Any) -> Any:
        async with gate:
            return await coro

    return await asyncio.gather(*(one(c) for c in coros))


async def run(args: argparse.Namespace, work: Path) -> int:
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    rng, tag = random.Random(seed), str(ULID())[-8:].lower()
    started = time.monotonic()
    deadline = started + args.seconds
    n_offline = round(args.terminals * args.offline_fraction)
    print(f"fleet: {args.terminals} terminals ({n_offline} go offline {args.offline_seconds:g}s and come "
          f"back, then lose {args.lost_acks:.0%} of answers), {args.sales_per_terminal} sales each every "
          f"~{args.sale_interval:g}s, {args.terminals_per_store} per store; seed {seed}", flush=True)
    async with a_cloud(args, work) as (url, db_url, pid):
        local_sources = is_loopback(url)
        since = int(time.time()) - 1
        prov = await provision(db_url, args.terminals, args.terminals_per_store, tag)
        offline_ids = set(rng.sample(range(args.terminals), n_offline))
        host, port = urlsplit(url).hostname or "127.0.0.1", urlsplit(url).port or 80
        terms = []
        for i in range(args.terminals):
            (work / f"t{i}").mkdir()
            term = Terminal(i, f"FLEET-{tag}-{i:05d}", work / f"t{i}",
                            source_address(i) if local_sources else None)
            if i in offline_ids:
                # the proxy's random stream comes from the config it is built with: one seed per terminal
                term.proxy = ChaosProxy(host, port, ChaosConfig(seed=seed + i))
                term.lost_acks = args.lost_acks
            terms.append(term)
        cpu0 = cpu_seconds(pid) if pid else None
        print(f"  used: {args.terminals} terminal tasks in one event loop (each its own agent database, "
              f"uploader and aiohttp session{', from its own 127.10.x.y address' if local_sources else ''}), "
              f"{prov.stores} stores, enrollment {args.enroll_concurrency} at a time; cloud {url}"
              f"{' (started here, SQLite)' if pid else ''}; cores: {len(os.sched_getaffinity(0))} "
              f"of {os.cpu_count()}", flush=True)
        stats, lag, stop_lag = Stats(), [], asyncio.Event()
        lag_task = asyncio.create_task(loop_lag(lag, stop_lag))
        try:
            t0 = time.monotonic()
            await gather_bounded([t.enroll(url, c, deadline) for t, c in zip(terms, prov.codes, strict=True)],
                                 args.enroll_concurrency)
            await gather_bounded([t.open(url, stats) for t in terms], args.enroll_concurrency)
            print(f"  enrolled and opened {len(terms)} terminals in {time.monotonic() - t0:.1f}s", flush=True)
            t1 = time.monotonic()
            span = max(0.0, args.sales_per_terminal * args.sale_interval - args.offline_seconds)
            outages = [t.outage(rng.uniform(0, span), args.offline_seconds)
                       for t in terms if t.proxy is not None]
            await asyncio.gather(*(t.take_sales(args.sales_per_terminal, args.sale_interval, tag,
                                                random.Random(seed + t.index)) for t in terms), *outages)
            t_sold = time.monotonic()
            drained = await asyncio.gather(*(t.drained(deadline) for t in terms))
            t_drained = time.monotonic()
            local = [await t.local_sales() for t in terms]
        finally:
            stop_lag.set()
            await lag_task
            await asyncio.gather(*(t.close() for t in terms))
        cpu = cpu_seconds(pid) - cpu0 if pid and cpu0 is not None else None
        intents = await cloud_intents(url, prov.partner, since)
    return report(args, Outcome(stats, lag, terms, local, intents, drained, (t1, t_sold, t_drained), cpu))


@dataclass
class Outcome:
    """Everything a run measured, for the report."""

    stats: Stats
    lag: list[float]
    terms: list[Terminal]
    local: list[list[tuple[str, str, str | None, int]]]
    intents: list[dict[str, Any]]
    drained: list[bool]
    times: tuple[float, float, float]  # sales start, last sale, all drained (monotonic)
    cpu: float | None  # the cloud's CPU seconds, when this bench started it


def report(args: argparse.Namespace, run: Outcome) -> int:
    """Print the figures and the exactly-once verdict; the exit code."""
    stats, lag, terms, local, intents, drained, cpu = (run.stats, run.lag, run.terms, run.local, run.intents,
                                                       run.drained, run.cpu)
    t1, t_sold, t_drained = run.times
    taken = sum(len(t.refs) for t in terms)
    seconds = t_drained - t1
    print(f"  sales: {taken} taken in {t_sold - t1:.1f}s; all synced {t_drained - t_sold:.1f}s after the "
          f"last sale; {stats.items} items in {len(stats.latencies)} batches = "
          f"{stats.items / seconds:,.0f} items/s over {seconds:.1f}s")
    print(f"  sync batch latency: p50 {stats.pct(50):.1f} ms  p95 {stats.pct(95):.1f} ms  "
          f"p99 {stats.pct(99):.1f} ms  max {max(stats.latencies, default=0) * 1000:.1f} ms")
    print(f"  results: {dict(stats.results)}")
    proxies = [t.proxy.stats for t in terms if t.proxy is not None]
    print(f"  errors: {dict(stats.errors) or 'none'}; injected (offline, lost answers): "
          f"{dict(stats.injected) or 'none'}; the proxies dropped {sum(p.dropped for p in proxies)} and "
          f"lost the answer of {sum(p.swallowed for p in proxies)} exchanges")
    lag_p99 = statistics.quantiles(lag, n=100)[98] * 1000 if len(lag) > 1 else float("nan")
    print(f"  bench event-loop lag p99 {lag_p99:.1f} ms; bench CPU {time.process_time():.1f}s"
          + (f"; cloud CPU {cpu:.1f}s over {seconds:.1f}s" if cpu is not None else ""))
    problems = exactly_once(terms, local, intents)
    if not all(drained):
        problems.append(f"{drained.count(False)} terminal(s) still had sales pending at --seconds")
    print(f"  exactly once: {'yes' if not problems else 'NO'} ({len(intents)} intents in the cloud for "
          f"{taken} sales)")
    for line in problems[:20]:
        print(f"    {line}")
    slo = f"sync p95 {stats.pct(95):.1f} ms " + ("≤" if stats.pct(95) <= 200 else ">") + " 200 ms (the SLO)"
    print(f"  {slo}")
    failed = bool(problems or stats.errors)
    if args.max_p95_ms is not None and not stats.pct(95) <= args.max_p95_ms:
        failed = True
    print("FAILED" if failed else "OK")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # The uploader warns on every failed batch; the bench counts them by kind instead of printing each.
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # ~8 descriptors per terminal
    with tempfile.TemporaryDirectory(prefix="fleet-") as tmp:
        return asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    sys.exit(main())
