"""The gateway on PostgreSQL with real durability: create-intent requests/s and p95 with 1 and 2 workers, and
sync-batch ingest items/s on PostgreSQL vs SQLite, all in one run.

A throwaway PostgreSQL 15 is started with fsync=on, synchronous_commit=on and full_page_writes=on (every
commit reaches the disk before it is answered, like SQLite's synchronous=FULL here). The servers (PostgreSQL
and `mpac-pgw serve --workers N`) are pinned with taskset to one core set, this load generator to another,
and the generator's own CPU use is printed for every phase: near 100 % of a core, the figure measures the
client, not the server. Every request is HMAC-signed at send time by the generator (bench/pgw_create.py's
client, bench/sync_intake.py's batches). Each run is bounded in count and in time.

    .venv/bin/python bench/pgw_scale.py [--requests 3000] [--concurrency 32] [--seconds 20] [--rate 1000]
        [--rate-seconds 5] [--batches 40] [--devices 4]

Phases: (1) create, closed loop, 1 worker then 2 workers, then each at a fixed rate (open loop, latency from
the scheduled send time); (2) ingest: `--devices` enrolled devices post their pre-built 500-item hash-chained
batches concurrently (one batch in flight per device, as the agent's uploader does), on PostgreSQL with 1
and 2 workers and on SQLite (WAL, synchronous=FULL) with 1 worker. CPU per request (or per item) of the
workers and of PostgreSQL is printed beside every figure, because with fewer cores than workers + database +
generator, throughput mostly says how the cores were shared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from ulid import ULID

from bench.pgw_create import Result, closed_loop, cpu_seconds, fixed_rate, seed, start_server, stop
from bench.sync_intake import PATH, admin, build_batches
from cloud.infrastructure.crypto import SecretBox
from sync.batch import encode_batch
from sync.signing import authorization_header
from tests import pgserver

PY = sys.executable
SERVER_CORES: set[int] = set()  # the cores PostgreSQL and the workers are pinned to (set in main)


class DurablePg(pgserver.PgServer):
    """The test suite's throwaway server, started with the durability a deployment has, pinned to cores."""

    cores = "0"

    def start(self) -> None:
        """Start with fsync, synchronous_commit and full_page_writes on (PostgreSQL's defaults)."""
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=on "
                "-c synchronous_commit=on -c full_page_writes=on -c max_connections=200 "
                "-c shared_buffers=256MB")  # fmt: skip
        self._as_pg("taskset", "-c", self.cores, str(pgserver.PGBIN / "pg_ctl"), "-D", str(self.data), "-l",
                    str(self.dir / "log"), "-w", "-t", "30", "-o", opts, "start")  # fmt: skip

    def pids(self) -> list[int]:
        """The postmaster and every backend (the pool's connections among them)."""
        head = int((self.data / "postmaster.pid").read_text().split()[0])
        return [head, *children(head)]


def children(pid: int) -> list[int]:
    """Direct children of a process (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(p) for p in fh.read().split()]
    except FileNotFoundError:
        return []


def cpu_by_pid(pids: list[int]) -> dict[int, float]:
    """CPU seconds (user + system, all threads) of each of these processes that is still there."""
    found: dict[int, float] = {}
    for pid in pids:
        try:
            found[pid] = cpu_seconds(pid)
        except FileNotFoundError:
            continue
    return found


def cpu_since(before: dict[int, float], pids: list[int]) -> float:
    """CPU used since `before` by these processes; one that started meanwhile (a pool's new backend, a
    worker's child) counts all of its CPU. A process that ended meanwhile is lost: the busy share of the
    server cores below catches it."""
    return sum(now - before.get(pid, 0.0) for pid, now in cpu_by_pid(pids).items())


def busy_jiffies(cores: set[int]) -> tuple[int, int]:
    """(busy, total) jiffies of these cores so far (/proc/stat): every process and the kernel's own work."""
    busy = total = 0
    with open("/proc/stat") as fh:
        for line in fh:
            name, *fields = line.split()
            if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cores:
                ticks = [int(f) for f in fields]
                total += sum(ticks[:8])
                busy += sum(ticks[:8]) - ticks[3] - ticks[4]  # minus idle and iowait
    return busy, total


@dataclass
class Meter:
    """CPU of the workers, of PostgreSQL and of this generator over one phase."""

    workers: float = 0.0
    database: float = 0.0
    generator: float = 0.0
    wall: float = 0.0
    server_busy: float = 0.0  # share of the server cores busy (any process, the kernel too)

    def line(self, units: int, unit: str) -> str:
        """CPU per unit and the generator's share of a core."""
        per = 1e6 / max(units, 1)
        share = self.generator / self.wall if self.wall else 0.0
        limit = "  <- the generator is the limit" if share >= 0.9 else ""
        return (f"cpu per {unit}: workers {self.workers * per:5.0f} us, "
                f"postgres {self.database * per:5.0f} us; server cores {self.server_busy:4.0%} busy; "
                f"generator {share:4.0%} of a core{limit}")


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def metered(worker_root: int, pg: DurablePg | None) -> Iterator[Meter]:
    """Measure the CPU of the supervisor's workers, PostgreSQL and this process across the block."""
    meter = Meter()

    def workers() -> list[int]:
        return [worker_root, *children(worker_root)]

    def database() -> list[int]:
        return pg.pids() if pg is not None else []

    w0, d0, g0, t0 = cpu_by_pid(workers()), cpu_by_pid(database()), own_cpu(), time.perf_counter()
    b0 = busy_jiffies(SERVER_CORES)
    yield meter
    meter.workers, meter.database = cpu_since(w0, workers()), cpu_since(d0, database())
    meter.generator, meter.wall = own_cpu() - g0, time.perf_counter() - t0
    b1 = busy_jiffies(SERVER_CORES)
    meter.server_busy = (b1[0] - b0[0]) / max(1, b1[1] - b0[1])


def serve(db: str, workers: int, core: str) -> tuple[subprocess.Popen[str], str]:
    """`mpac-pgw serve --workers N` pinned to `core`; the rate limit is raised: it runs, never refuses."""
    argv = [PY, "-m", "cloud.cli", "serve", "--port", "0", "--db", db, "--workers", str(workers),
            "--rate-limit-per-minute", "1000000000"]  # fmt: skip
    return start_server(argv, core)


def create_phase(name: str, url: str, args: argparse.Namespace, *, root: int,
                 pg: DurablePg) -> tuple[Result, Result, list[str]]:  # fmt: skip
    """Warm up (as many requests as one run), one closed-loop run, one fixed-rate run; each run's CPU."""
    asyncio.run(closed_loop("warm-up", url, args.requests, args.concurrency, seconds=args.seconds,
                            tag=f"w{name}"))  # fmt: skip
    with metered(root, pg) as closed:
        loop = asyncio.run(closed_loop(name, url, args.requests, args.concurrency, seconds=args.seconds,
                                       tag=f"c{name}"))  # fmt: skip
    with metered(root, pg) as paced_cpu:
        paced = asyncio.run(fixed_rate(f"{name} @ {args.rate:.0f}/s", url, args.rate,
                                       seconds=args.rate_seconds, pool=64, tag=f"r{name}"))  # fmt: skip
    for result, meter in ((loop, closed), (paced, paced_cpu)):
        result.cpu_us = meter.workers * 1e6 / max(result.done, 1)  # the workers' CPU (PostgreSQL's apart)
    return loop, paced, [closed.line(loop.done, "request"), paced_cpu.line(paced.done, "request")]


def enroll_codes(db: str, devices: int) -> list[str]:
    """A store with `devices` activation codes (through the admin CLI)."""
    partner = admin(db, "partner", "create", "--name", "ingest")
    merchant = admin(db, "merchant", "create", "--partner", partner["client_partner_id"], "--name", "m")
    store = admin(db, "store", "create", "--merchant", merchant["merchant_id"], "--code", "ingest")
    code = ("activation-code", "--store", store["store_id"])
    return [admin(db, *code)["activation_code"] for _ in range(devices)]


async def ingest(url: str, codes: list[str], batches: int, seconds: float) -> tuple[int, float]:
    """Enroll one device per code, build every batch first, then post them: one in flight per device."""
    async with aiohttp.ClientSession() as session:
        creds = []
        for n, code in enumerate(codes):
            body = {"code": code, "serial_number": f"S{n}", "model": "bench"}
            async with session.post(url + "/v1/devices/activate", json=body) as resp:
                creds.append(await resp.json())
        work = [(cred, build_batches(cred["device_id"], batches)) for cred in creds]
        start = time.perf_counter()
        deadline = start + seconds

        async def device(cred: dict[str, str], wires: list[list[bytes]]) -> int:
            accepted = 0
            for wire in wires:
                if time.perf_counter() > deadline:
                    break
                raw = encode_batch(str(ULID()), cred["device_id"], int(time.time() * 1000), wire)
                auth = authorization_header(cred["api_key"], cred["secret_key"], "POST", PATH,
                                            int(time.time()), raw)  # fmt: skip
                async with session.post(url + PATH, data=raw, headers={"Authorization": auth}) as resp:
                    got = await resp.json()
                    if resp.status != 200:
                        raise RuntimeError(f"batch refused: {resp.status} {json.dumps(got)[:300]}")
                accepted += sum(r["status"] == "accepted" for r in got["results"])
            return accepted

        done = await asyncio.gather(*(device(c, w) for c, w in work))
        return sum(done), time.perf_counter() - start


def ingest_phase(name: str, db: str, workers: int, args: argparse.Namespace, *, core: str,
                 pg: DurablePg | None) -> tuple[float, str]:  # fmt: skip
    """One ingest run on a fresh serve; its printable figures."""
    codes = enroll_codes(db, args.devices)
    proc, url = serve(db, workers, core)
    try:
        with metered(proc.pid, pg) as meter:
            items, secs = asyncio.run(ingest(url, codes, args.batches, args.seconds))
    finally:
        stop(proc)
    rate = items / secs if secs else 0.0
    return rate, (f"{name:<34} {rate:9,.0f} items/s  ({items} items, {args.devices} devices, {secs:.2f} s)\n"
                  f"{'':<34} {meter.line(items, 'item')}")


def main() -> None:
    """Run every phase and print figures, ratios and the goals."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="closed-loop requests per run (bound)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20.0, help="time bound of each timed run")
    parser.add_argument("--rate", type=float, default=1000.0, help="fixed-rate phase, requests/s")
    parser.add_argument("--rate-seconds", type=float, default=5.0)
    parser.add_argument("--batches", type=int, default=40, help="500-item batches per device (bound)")
    parser.add_argument("--devices", type=int, default=4, help="devices posting at once")
    args = parser.parse_args()
    if not pgserver.available():
        raise SystemExit("PostgreSQL 15 server binaries are not installed (scripts/system-deps.sh)")
    cores = sorted(os.sched_getaffinity(0))
    half = max(1, len(cores) // 2)
    server_set, client_set = (cores[:half], cores[half:]) if len(cores) > 1 else (cores, cores)
    server_core = ",".join(map(str, server_set))
    os.sched_setaffinity(0, set(client_set))
    os.environ["MPAC_PGW_ENCRYPTION_KEY"] = SecretBox.generate_key().decode()  # shared by every worker
    print(f"cores: PostgreSQL + workers on {server_core}, load generator on "
          f"{','.join(map(str, client_set))} (of {len(cores)}); closed loop <= {args.requests} requests, "
          f"<= {args.seconds:.0f} s, concurrency {args.concurrency}")  # fmt: skip
    DurablePg.cores = server_core
    SERVER_CORES.update(server_set)
    pg = DurablePg()
    lines: list[str] = []
    try:
        runs = {}
        for workers in (1, 2):
            db = pg.new_database()
            seed(PY, db)
            proc, url = serve(db, workers, server_core)
            try:
                loop, paced, cpu = create_phase(f"pg {workers} worker(s)", url, args, root=proc.pid, pg=pg)
            finally:
                stop(proc)
            runs[workers] = (loop, paced)
            pad = " " * 7
            lines += [f"create {loop.line()}", pad + cpu[0], f"create {paced.line()}", pad + cpu[1]]
        rates = {}
        for workers in (1, 2):
            rates[workers], text = ingest_phase(f"ingest, PostgreSQL, {workers} worker(s)", pg.new_database(),
                                                workers, args, core=server_core, pg=pg)  # fmt: skip
            lines.append(text)
        with tempfile.TemporaryDirectory(prefix="pgw-scale-") as tmp:
            lite = f"sqlite:///{Path(tmp) / 'pgw.sqlite3'}"
            rates[0], text = ingest_phase("ingest, SQLite, 1 worker", lite, 1, args, core=server_core,
                                          pg=None)  # fmt: skip
            lines.append(text)
    finally:
        pg.close()
    print("\n".join(lines))
    one, two = runs[1][0], runs[2][0]
    print(f"ratio 2 workers / 1 worker (closed loop): {two.rps / one.rps:.2f}x"
          + ("  (the workers share one core with PostgreSQL here: no room to scale)" if len(server_set) < 2
             else ""))  # fmt: skip
    p95 = max(runs[1][1].pct(95), runs[2][1].pct(95))
    print(f"goal create p95 <= 20 ms at {args.rate:.0f} req/s: {'met' if p95 <= 20 else 'MISSED'} "
          f"(worst p95 {p95:.1f} ms)")  # fmt: skip
    best = max(rates[1], rates[2])
    print(f"ingest PostgreSQL / SQLite (1 worker each): {rates[1] / rates[0]:.2f}x;  "
          f"goal >= 50,000 items/s on PostgreSQL: {'met' if best >= 50_000 else 'MISSED'} "
          f"(best {best:,.0f} items/s)")  # fmt: skip
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (other work on these cores skews every figure)")


if __name__ == "__main__":
    main()
