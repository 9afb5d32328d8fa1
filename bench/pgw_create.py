"""Create-PaymentIntent throughput and latency of one `mpac-pgw serve` process vs a bare aiohttp JSON handler.

Both servers run as separate processes pinned with taskset to one core; this load generator is pinned to
another core. Every request is HMAC-signed at send time (docs/cloud-api.md), also for the baseline, so the
client does
the same work in both runs. Each run is bounded in count and in time.

    .venv/bin/python bench/pgw_create.py [--requests 3000] [--rounds 5] [--concurrency 32] [--seconds 30]

Phase 1 (closed loop, `--concurrency` connections): baseline and pgw rounds alternate (so a noisy neighbour on
the machine hits both alike); requests/s is the median round, p50/p95/p99 pool all rounds; then the ratio.
Each round also reads the server's CPU time (all its threads, /proc) and prints CPU microseconds per request:
throughput here swings with whatever else runs on the machine, CPU per request much less.
Phase 2 (open loop, fixed rate): pgw at `--rate` requests/s for `--rate-seconds`; latency is
measured from each request's scheduled send time, so a stalled server cannot hide queueing (no coordinated
omission).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sync.signing import authorization_header

API_KEY, SECRET = "pk_bench_0001", "sk_bench_secret_0001"
PATH = "/v1/payment_intents"

BARE_SERVER = """
import json, sys
from aiohttp import web

async def create(request):
    body = json.loads(await request.read())
    return web.json_response({"id": "pi_bare", "amount": body["amount"], "status": "requires_payment_method"},
                             status=201)

async def main():
    app = web.Application()
    app.router.add_post("/v1/payment_intents", create)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(f"bare listening on http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
    await __import__("asyncio").Event().wait()

__import__("asyncio").run(main())
"""


@dataclass
class Result:
    """One run's figures."""

    name: str
    done: int
    errors: int
    seconds: float
    latencies: list[float]
    cpu_us: float = float("nan")  # server CPU (all threads) per completed request, microseconds

    @property
    def rps(self) -> float:
        """Completed requests per second."""
        return self.done / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        """Latency percentile in milliseconds."""
        if len(self.latencies) < 2:
            return float("nan")
        return statistics.quantiles(self.latencies, n=1000)[int(q * 10) - 1] * 1000

    def line(self) -> str:
        """A printable summary."""
        return (
            f"{self.name:<28} {self.rps:9.0f} req/s   p50 {self.pct(50):6.2f} ms   p95 {self.pct(95):6.2f} ms"
            f"   p99 {self.pct(99):6.2f} ms   cpu {self.cpu_us:4.0f} us/req"
            f"   ok {self.done}  errors {self.errors}  in {self.seconds:.2f} s"
        )


class Connection:
    """A minimal keep-alive HTTP/1.1 client over asyncio streams (cheaper per request than a full client,
    so the one load-generator core is less likely to be the bottleneck)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.last_body = b""  # the body of the last response (bench/webhooks.py reads created ids from it)

    async def open(self) -> None:
        """Connect."""
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def post(self, path: str, body: bytes) -> int:
        """Sign now, send, read the whole response; returns the status code."""
        assert self.reader is not None and self.writer is not None
        auth = authorization_header(API_KEY, SECRET, "POST", path, int(time.time()), body)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Authorization: {auth}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        self.last_body = await self.reader.readexactly(length)
        return int(status_line.split()[1])

    async def close(self) -> None:
        """Disconnect."""
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


class Bodies:
    """Unique create bodies (merchant_ref_id is unique per merchant)."""

    def __init__(self, tag: str) -> None:
        self.tag, self.n = tag, 0

    def next(self) -> bytes:
        """The next body."""
        self.n += 1
        return json.dumps(
            {
                "amount": 1000 + self.n % 500,
                "currency": "JPY",
                "payment_method_types": ["qr_mpm"],
                "merchant_ref_id": f"{self.tag}-{self.n}",
                "merchant_store_id": "store_001",
            }
        ).encode()


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU of every thread of a process (Linux /proc), or NaN."""
    if pid is None:
        return float("nan")
    ticks = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


Step = Callable[[Connection, Bodies], Awaitable[bool]]


async def create_step(conn: Connection, bodies: Bodies) -> bool:
    """One create; True when it answered 201."""
    return await conn.post(PATH, bodies.next()) == 201


async def closed_loop(
    name: str, url: str, total: int, concurrency: int, *, seconds: float, tag: str, pid: int | None = None,
    step: Step = create_step,
) -> Result:  # fmt: skip
    """`concurrency` connections run `step` back to back until `total` are done or `seconds` pass."""
    host, port = url.removeprefix("http://").split(":")
    conns = [Connection(host, int(port)) for _ in range(concurrency)]
    await asyncio.gather(*(c.open() for c in conns))
    bodies, latencies = Bodies(tag), []
    errors, sent = 0, 0
    cpu_start = cpu_seconds(pid)
    start = time.perf_counter()
    deadline = start + seconds

    async def worker(conn: Connection) -> None:
        nonlocal errors, sent
        while sent < total and time.perf_counter() < deadline:
            sent += 1
            t0 = time.perf_counter()
            if await step(conn, bodies):
                latencies.append(time.perf_counter() - t0)
            else:
                errors += 1

    await asyncio.gather(*(worker(c) for c in conns))
    elapsed = time.perf_counter() - start
    cpu_us = (cpu_seconds(pid) - cpu_start) * 1e6 / max(len(latencies), 1)
    await asyncio.gather(*(c.close() for c in conns))
    return Result(name, len(latencies), errors, elapsed, latencies, cpu_us)


async def fixed_rate(
    name: str, url: str, rate: float, *, seconds: float, pool: int, tag: str, pid: int | None = None
) -> Result:
    """Open loop: request i is due at start + i/rate; latency counts from that due time."""
    host, port = url.removeprefix("http://").split(":")
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(pool):
        conn = Connection(host, int(port))
        await conn.open()
        idle.put_nowait(conn)
    bodies, latencies, errors = Bodies(tag), [], 0
    total = int(rate * seconds)
    cpu_start = cpu_seconds(pid)
    start = time.perf_counter()

    async def one(due: float) -> None:
        nonlocal errors
        conn = await idle.get()
        try:
            status = await conn.post(PATH, bodies.next())
        finally:
            idle.put_nowait(conn)
        if status == 201:
            latencies.append(time.perf_counter() - due)
        else:
            errors += 1

    tasks = []
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due)))
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=seconds + 30)
    elapsed = time.perf_counter() - start
    cpu_us = (cpu_seconds(pid) - cpu_start) * 1e6 / max(len(latencies), 1)
    while not idle.empty():
        await idle.get_nowait().close()
    return Result(name, len(latencies), errors, elapsed, latencies, cpu_us)


def start_server(
    argv: list[str], core: int | str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    """Start a server pinned to one core (or a taskset list such as "0,1"); wait for its 'listening on URL'
    line."""
    proc = subprocess.Popen(["taskset", "-c", str(core), *argv], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "http://" not in line:
        proc.kill()
        raise SystemExit(f"server did not start: {argv}")
    return proc, line.split()[-1]


def stop(proc: subprocess.Popen[str]) -> None:
    """Terminate a server we started and reap it."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def seed(py: str, db: str) -> str:
    """Partner with fixed bench keys, one merchant, store_001 (through the real admin CLI); the partner id."""

    def admin(*argv: str) -> dict[str, str]:
        out = subprocess.run(
            [py, "-m", "cloud.cli", "admin", *argv, "--db", db], capture_output=True, text=True, check=True
        )
        value: dict[str, str] = json.loads(out.stdout)
        return value

    partner = admin("partner", "create", "--name", "bench", "--api-key", API_KEY, "--secret-key", SECRET)
    merchant = admin("merchant", "create", "--partner", partner["client_partner_id"], "--name", "m")
    admin("store", "create", "--merchant", merchant["merchant_id"], "--code", "store_001")
    return partner["client_partner_id"]


def pooled(name: str, runs: list[Result]) -> Result:
    """Rounds merged: the median round's throughput, latencies of all rounds."""
    median = sorted(runs, key=lambda r: r.rps)[len(runs) // 2]
    latencies = [x for r in runs for x in r.latencies]
    cpu = statistics.median(r.cpu_us for r in runs)
    return Result(name, median.done, sum(r.errors for r in runs), median.seconds, latencies, cpu)


async def alternate(
    bare: tuple[str, int], pgw: tuple[str, int], args: argparse.Namespace
) -> tuple[Result, Result]:
    """Warm both up, then alternate bare / pgw rounds so a noisy neighbour hits both alike."""
    for url, _ in (bare, pgw):
        await closed_loop("warm-up", url, 500, args.concurrency, seconds=10, tag=f"w{url[-5:]}")
    bare_runs: list[Result] = []
    pgw_runs: list[Result] = []
    for n in range(args.rounds):
        for (url, pid), runs, tag in ((bare, bare_runs, "b"), (pgw, pgw_runs, "c")):
            runs.append(await closed_loop(tag, url, args.requests, args.concurrency, seconds=args.seconds,
                                          tag=f"{tag}{n}", pid=pid))  # fmt: skip
        b, p = bare_runs[-1], pgw_runs[-1]
        print(
            f"round {n + 1}: bare {b.rps:7.0f} req/s {b.cpu_us:4.0f} us/req   "
            f"pgw {p.rps:7.0f} req/s {p.cpu_us:4.0f} us/req   ratio {p.rps / b.rps:.1%}"
        )
    return pooled("bare aiohttp JSON handler", bare_runs), pooled("mpac-pgw create (SQLite)", pgw_runs)


def main() -> None:
    """Run both phases and print figures and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="closed-loop requests per round (bound)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating bare / pgw rounds")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30.0, help="time bound of each closed-loop run")
    parser.add_argument("--rate", type=float, default=1000.0, help="fixed-rate phase, requests/s")
    parser.add_argument("--rate-seconds", type=float, default=5.0)
    args = parser.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    server_core, client_core = (cores[0], cores[1]) if len(cores) > 1 else (cores[0], cores[0])
    os.sched_setaffinity(0, {client_core})
    py = sys.executable
    print(
        f"cores: servers on {server_core}, load generator on {client_core} (of {len(cores)}); "
        f"{args.rounds} rounds of <= {args.requests} requests, <= {args.seconds:.0f} s each, "
        f"concurrency {args.concurrency}"
    )
    with tempfile.TemporaryDirectory(prefix="pgw-bench-") as tmp:
        db = f"sqlite:///{Path(tmp) / 'pgw.sqlite3'}"
        seed(py, db)
        # The rate limit is raised so the limiter still runs (its cost is measured) but does not refuse.
        serve = [
            "-m",
            "cloud.cli",
            "serve",
            "--port",
            "0",
            "--db",
            db,
            "--rate-limit-per-minute",
            "1000000000",
        ]
        bare, bare_url = start_server([py, "-c", BARE_SERVER], server_core)
        pgw, pgw_url = start_server([py, *serve], server_core)
        try:
            base, ours = asyncio.run(alternate((bare_url, bare.pid), (pgw_url, pgw.pid), args))
            paced = asyncio.run(
                fixed_rate(
                    f"mpac-pgw @ {args.rate:.0f} req/s",
                    pgw_url,
                    args.rate,
                    seconds=args.rate_seconds,
                    pool=64,
                    tag="r",
                    pid=pgw.pid,
                )
            )
        finally:
            stop(bare)
            stop(pgw)
    print(base.line())
    print(ours.line())
    print(
        f"ratio pgw / bare: throughput {ours.rps / base.rps:.1%}   p50 x{ours.pct(50) / base.pct(50):.2f}"
        f"   p95 x{ours.pct(95) / base.pct(95):.2f}   p99 x{ours.pct(99) / base.pct(99):.2f}"
        + (f"   server CPU per request x{ours.cpu_us / base.cpu_us:.2f}" if base.cpu_us else
           "   server CPU per request: too few requests to measure the bare side")
    )
    print(paced.line())
    print(
        f"load average at the end: {os.getloadavg()[0]:.2f} (other work on these cores skews both sides)"
    )
    goal_rps = "met" if ours.rps >= 0.5 * base.rps else "MISSED"
    goal_p95 = "met" if paced.pct(95) <= 20 and paced.errors == 0 else "MISSED"
    print(f"goal >= 50% of bare aiohttp: {goal_rps};  goal p95 <= 20 ms at {args.rate:.0f} req/s: {goal_p95}")


if __name__ == "__main__":
    main()
