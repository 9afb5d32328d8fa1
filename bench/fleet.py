"""Fleet simulator: N virtual terminals taking sales offline-first and syncing them to one cloud.

    .venv/bin/python bench/fleet.py [--terminals 100] [--sales-per-terminal 10] [--seconds 300] [--procs N]
                                    [--offline-fraction 0.2] [--cloud URL --db sqlite:///path]

Each virtual terminal is what a real one runs, minus the screen and the devices: it is enrolled with its own
one-time activation code through the agent's activation call (POST /v1/devices/activate), keeps its sales in
its own agent database (agent/adapters/store: the group-commit writer, the hash chain, the offline caps, the
outbox) and syncs them with the agent's uploader (sync/uploader.py: the monitor loop, kicked after each sale,
jittered backoff, probing while offline) through the signed SyncClient. Terminals connect from their own
loopback addresses (127.10.x.y) when the cloud is on loopback, as a fleet comes from many addresses.

The terminals are shared among --procs worker processes (bench/fleet_worker.py, spawned), each running its
share in its own event loop, so the load generator is not one saturated loop. Every worker enrolls and opens
its terminals and says ready; when all are, this process says go and they start selling together; each sends
back its batch latencies, counters, the sales its terminals took and stored, and its CPU time.

A fraction of the terminals sit behind a loopback proxy (sync/testing/proxy.py) that drops everything while
they are offline (--offline-seconds, starting at a random moment of their day) and, once they are back,
loses the answer of a few exchanges after the cloud processed them (--lost-acks), so the resends must be
answered `duplicate`. Terminals are spread over stores of --terminals-per-store (one merchant each).

At the end every terminal's queue must be empty and exactly-once must hold (bench/fleet_report.py): each
sale taken is acked on its terminal with an intent id, the cloud lists exactly one intent per sale (same
merchant_ref_id, amount and pi_ id), and no other. Printed: what the run used, sync batch latency
p50/p95/p99 (successful batches, as the terminal measures them), batches and items/s, errors by kind
(injected faults separately), the generator's CPU time and event-loop lag against the cloud's CPU time.
Exit 1 if exactly-once fails, a sale is left pending, an unexpected error happened, or --max-p95-ms is given
and exceeded.

Without --cloud, a cloud (`mpac-pgw serve`) is started on loopback over a temp SQLite file. With --cloud URL,
--db must name that cloud's database (sqlite:///…, readable and writable from here) so the bench can create
its partner, stores and activation codes, exactly as `mpac-pgw admin` would. Docs:
docs/operations.md#fleet-simulator.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import queue as queues
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ulid import ULID

from bench.fleet_cloud import a_cloud, cloud_intents, cpu_seconds, is_loopback, provision
from bench.fleet_report import Outcome, exactly_once, report
from bench.fleet_terminal import Terminal
from bench.fleet_worker import WorkerResult, WorkerSpec, cpu_pressure, sched_wait, work

# Terminal and exactly_once are used by tests/e2e/sync/test_fleet_smoke.py.
__all__ = ["Terminal", "exactly_once", "main"]
GRACE_S = 60.0  # after --seconds, for workers to close their terminals and send their figures


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
    p.add_argument("--procs", type=int, default=len(os.sched_getaffinity(0)),
                   help="generator processes, each with its share of the terminals in its own event loop "
                        "(default: the CPUs this process may use)")
    p.add_argument("--cloud", help="an existing cloud's base URL (default: start one on loopback)")
    p.add_argument("--db", help="with --cloud: that cloud's database URL, sqlite:///path (for provisioning)")
    p.add_argument("--seed", type=int, default=None, help="seed of the offline schedule (default: random)")
    p.add_argument("--max-p95-ms", type=float, default=None, help="exit 1 if sync p95 is above this")
    args = p.parse_args(argv)
    if args.cloud and not args.db:
        p.error("--cloud needs --db (the cloud's database) to create the stores and activation codes")
    if args.terminals < 1 or args.sales_per_terminal < 0 or args.terminals_per_store < 1 or args.procs < 1:
        p.error("--terminals, --terminals-per-store and --procs must be ≥ 1, --sales-per-terminal ≥ 0")
    args.procs = min(args.procs, args.terminals)
    return args


def shares(args: argparse.Namespace, url: str, codes: list[str], *, work_dir: Path, tag: str,
           seed: int, deadline: float) -> list[WorkerSpec]:
    """Terminal i goes to worker i % procs; the offline schedule is drawn here, from the one seed."""
    rng = random.Random(seed)
    n_offline = round(args.terminals * args.offline_fraction)
    span = max(0.0, args.sales_per_terminal * args.sale_interval - args.offline_seconds)
    outages = {i: rng.uniform(0, span) for i in sorted(rng.sample(range(args.terminals), n_offline))}
    where = urlsplit(url)
    specs = []
    for wid in range(args.procs):
        indices = list(range(wid, args.terminals, args.procs))
        specs.append(WorkerSpec(
            wid, indices, [codes[i] for i in indices], {i: outages[i] for i in indices if i in outages}, url,
            where.hostname or "127.0.0.1", where.port or 80, is_loopback(url), str(work_dir), tag, seed,
            deadline, args.sales_per_terminal, args.sale_interval, args.offline_seconds, args.lost_acks,
            max(1, args.enroll_concurrency // args.procs)))
    return specs


class Workers:
    """The worker processes and their queues: ready/go/done."""

    def __init__(self, specs: list[WorkerSpec]) -> None:
        ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no event loop or threads inherited
        self.out: Any = ctx.Queue()
        self.go: list[Any] = [ctx.Queue() for _ in specs]
        self.procs = [ctx.Process(target=work, args=(s, self.out, g), name=f"fleet-worker-{s.wid}")
                      for s, g in zip(specs, self.go, strict=True)]
        for proc in self.procs:
            proc.start()

    async def collect(self, kind: str, deadline: float) -> dict[int, Any]:
        """One `kind` message from every worker; raises on a worker's error, death or the deadline."""
        got: dict[int, Any] = {}
        loop = asyncio.get_running_loop()
        while len(got) < len(self.procs):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.procs) - len(got)} worker(s) not {kind} by --seconds")
            try:
                msg, wid, payload = await loop.run_in_executor(None, self.out.get, True, 1.0)
            except queues.Empty:
                dead = [p.name for p in self.procs if p.exitcode not in (None, 0)]
                if dead:
                    raise RuntimeError(f"worker(s) died without a word: {dead}") from None
                continue
            if msg == "error":
                raise RuntimeError(f"worker {wid} failed:\n{payload}")
            got[wid] = payload
        return got

    def start(self) -> None:
        for go in self.go:
            go.put("go")

    def stop(self) -> None:
        """Join the workers; terminate (SIGTERM) any still running after a failure."""
        for proc in self.procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=10)


def usage(pid: int | None) -> tuple[float, float, float]:
    """(the cloud's CPU seconds, its seconds waiting for a core, the machine's CPU pressure seconds) so far;
    nan for the cloud's when it was not started here."""
    cloud = (cpu_seconds(pid), sched_wait(pid)) if pid else (float("nan"), float("nan"))
    return (*cloud, cpu_pressure())


async def run(args: argparse.Namespace, work_dir: Path) -> int:
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    tag = str(ULID())[-8:].lower()
    deadline = time.monotonic() + args.seconds
    n_offline = round(args.terminals * args.offline_fraction)
    print(f"fleet: {args.terminals} terminals ({n_offline} go offline {args.offline_seconds:g}s and come "
          f"back, then lose {args.lost_acks:.0%} of answers), {args.sales_per_terminal} sales each every "
          f"~{args.sale_interval:g}s, {args.terminals_per_store} per store; seed {seed}", flush=True)
    async with a_cloud(args, work_dir) as (url, db_url, pid):
        since = int(time.time()) - 1
        prov = await provision(db_url, args.terminals, args.terminals_per_store, tag)
        specs = shares(args, url, prov.codes, work_dir=work_dir, tag=tag, seed=seed,
                       deadline=deadline)
        print(f"  used: {args.procs} generator processes, {len(specs[0].indices)} terminals or fewer each in "
              f"its own event loop (each terminal its own agent database, uploader and aiohttp session"
              f"{', from its own 127.10.x.y address' if is_loopback(url) else ''}), {prov.stores} stores; "
              f"cloud {url}{' (started here, SQLite)' if pid else ''}; cores: {len(os.sched_getaffinity(0))}"
              f" of {os.cpu_count()}", flush=True)
        t0, workers = time.monotonic(), Workers(specs)
        try:
            await workers.collect("ready", deadline)
            print(f"  enrolled and opened {args.terminals} terminals in {time.monotonic() - t0:.1f}s",
                  flush=True)
            usage0 = usage(pid)
            workers.start()
            done: dict[int, WorkerResult] = await workers.collect("done", deadline + GRACE_S)
            used = tuple(b - a for a, b in zip(usage0, usage(pid), strict=True))
        finally:
            workers.stop()
        intents = await cloud_intents(url, prov.partner, since)
    outcome = Outcome([done[w] for w in sorted(done)], intents, used, time.process_time(),
                      len(os.sched_getaffinity(0)))
    return report(args, outcome)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fleet-") as tmp:
        return asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    sys.exit(main())
