"""Capture throughput and latency of POST /api/sales (cash) against a real `mpac-agent run` process.

Levels: 1, 8 and 64 concurrent clients (keep-alive connections), each bounded in count and in time. In the
same run, the floor: plain sqlite3, one row per commit, WAL + synchronous=FULL, on the same disk. Ratios
compare the agent to that floor. Every sale the agent answers 201 was committed (synchronous=FULL) first.

    .venv/bin/python bench/agent_capture.py [--requests 3000] [--seconds 30] [--otel]

--otel: the telemetry cost instead (docs/observability.md). In one run, three agents take the same load at 1
and 64 clients: telemetry off (no endpoint), exporting to a live loopback OTLP receiver, and pointed at a
collector that accepts connections and never answers; sales/s, p99 and the slowest sale of each.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LEVELS = (1, 8, 64)
GOAL_P99_MS_AT_1 = 3.0
GOAL_RATE_AT_64 = 2000.0


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def start_agent(folder: Path, extra_env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    """The agent as its own process, caps raised so the benchmark never hits them (nothing else changed)."""
    config = folder / "agent.toml"
    config.write_text(
        f'[agent]\nstate_dir = "{folder / "state"}"\nserial = "BENCH-1"\nexpiry_interval_s = 3600\n'
        '[web]\nport = 0\n[cloud]\nurl = "http://127.0.0.1:9"\n'
        "[offline]\nmax_count = 100000000\nmax_total_amount = 1000000000000\n",
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), **(extra_env or {})}
    env.pop("MPAC_AGENT_CONFIG", None)
    if extra_env is None:
        env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    with (folder / "agent.log").open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent.entrypoints.cli", "run", "--config", str(config)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("mpac-agent ready on "):
        proc.kill()
        raise SystemExit(f"agent did not start: {line!r}")
    return proc, line.split()[-1]


class Connection:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams: one request in flight, like one POS.

    Hand-written on purpose: aiohttp's client costs more CPU per request than the server under test, and on
    two cores the load generator would measure itself (as wrk or a cashier's browser would not)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, url: str) -> Connection:
        """Connect to http://host:port."""
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        return cls(reader, writer, host)

    async def post(self, path: str, body: bytes) -> int:
        """Send one POST, read the whole answer, return its status code."""
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode("ascii")
            + body
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        length = next(int(v.split(b":")[1]) for v in lines if v.lower().startswith(b"content-length:"))
        await self.reader.readexactly(length)
        return int(lines[0].split()[1])

    def close(self) -> None:
        """Close the socket."""
        self.writer.close()


async def run_level(
    url: str, clients: int, total: int, seconds: float, counter: itertools.count[int]
) -> dict[str, float]:
    """`clients` connections POST cash sales until `total` are done or `seconds` pass; latency per request."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    conns = [await Connection.open(url) for _ in range(clients)]

    async def worker(conn: Connection) -> None:
        nonlocal errors
        while len(latencies) + errors < total and time.perf_counter() < deadline:
            n = next(counter)
            body = json.dumps(
                {
                    "amount": 100 + n % 900,
                    "payment_method": "cash",
                    "cash_received": 1000,
                    "merchant_ref_id": f"bench-{n}",
                }
            ).encode("utf-8")
            t0 = time.perf_counter()
            status = await conn.post("/api/sales", body)
            if status == 201:
                latencies.append(time.perf_counter() - t0)
            else:
                errors += 1

    start = time.perf_counter()
    try:
        await asyncio.gather(*(worker(c) for c in conns))
    finally:
        for conn in conns:
            conn.close()
    wall = time.perf_counter() - start
    return {
        "clients": clients,
        "sales": len(latencies),
        "errors": errors,
        "rate": len(latencies) / wall,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "mean_ms": statistics.fmean(latencies) * 1000,
        "max_ms": max(latencies) * 1000,
    }


def sqlite_floor(folder: Path, rows: int, seconds: float) -> dict[str, float]:
    """Plain sqlite3: one INSERT per transaction, WAL, synchronous=FULL, a row shaped like a sale."""
    conn = sqlite3.connect(folder / "floor.sqlite3", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute(
        "CREATE TABLE sales (local_id TEXT PRIMARY KEY, seq INTEGER NOT NULL UNIQUE, "
        "created_at INTEGER NOT NULL, hash TEXT NOT NULL, item_json TEXT NOT NULL, amount INTEGER NOT NULL)"
    )
    item = '{"intent":{"amount":100,"currency":"JPY","payment_method_type":"cash"}}' * 5
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    start = time.perf_counter()
    for seq in range(1, rows + 1):
        if time.perf_counter() > deadline:
            break
        t0 = time.perf_counter()
        conn.execute("BEGIN")
        conn.execute(
            "INSERT INTO sales VALUES (?, ?, ?, ?, ?, ?)",
            (str(uuid.uuid4()), seq, time.time_ns() // 1_000_000, "0" * 64, item, 100),
        )
        conn.execute("COMMIT")
        latencies.append(time.perf_counter() - t0)
    wall = time.perf_counter() - start
    conn.close()
    return {
        "rows": len(latencies),
        "rate": len(latencies) / wall,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


async def bench(folder: Path, requests: int, seconds: float) -> None:
    """Floor first, then the agent at each level (after a warm-up), then ratios and the goals."""
    floor = sqlite_floor(folder, requests, seconds)
    print(
        f"floor sqlite3 1 row/commit FULL: {floor['rows']} commits, {floor['rate']:.0f} commits/s, "
        f"p50 {floor['p50_ms']:.3f} ms, p99 {floor['p99_ms']:.3f} ms"
    )
    proc, url = start_agent(folder)
    counter = itertools.count()
    try:
        await run_level(url, 4, 300, seconds, counter)  # warm-up: imports, caches, first WAL growth
        results = [await run_level(url, c, requests * (1 if c == 1 else 2), seconds, counter) for c in LEVELS]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(
        f"{'clients':>7} {'sales':>6} {'err':>4} {'sales/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'vs floor':>9}"
    )
    for r in results:
        print(
            f"{r['clients']:>7} {r['sales']:>6} {r['errors']:>4} {r['rate']:>8.0f} {r['p50_ms']:>7.3f} "
            f"{r['p99_ms']:>7.3f} {r['rate'] / floor['rate']:>8.2f}x"
        )
    one, many = results[0], results[-1]
    print(f"ratio agent p50 at 1 client / floor commit p50: {one['p50_ms'] / floor['p50_ms']:.2f}x")
    print(
        f"goal p99 <= {GOAL_P99_MS_AT_1} ms at 1 client: {one['p99_ms']:.3f} ms -> "
        f"{'MET' if one['p99_ms'] <= GOAL_P99_MS_AT_1 else 'MISSED'}"
    )
    print(
        f"goal >= {GOAL_RATE_AT_64:.0f} sales/s at 64 clients: {many['rate']:.0f} sales/s -> "
        f"{'MET' if many['rate'] >= GOAL_RATE_AT_64 else 'MISSED'}"
    )


OTEL_LEVELS = (1, 64)
OTEL_GOAL_COST = 0.10  # at most 10 % fewer sales/s with a live receiver
SAMPLED = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc): the agent's own cost per sale."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def otel_mode(folder: Path, env: dict[str, str] | None, requests: int,
                    seconds: float) -> list[dict[str, float]]:
    """One agent with this telemetry environment: a warm-up, then each level."""
    await asyncio.to_thread(folder.mkdir)
    proc, url = await asyncio.to_thread(start_agent, folder, env)
    counter = itertools.count()
    try:
        await run_level(url, 4, 300, seconds, counter)
        results = []
        for clients in OTEL_LEVELS:
            before = process_cpu_s(proc.pid)
            result = await run_level(url, clients, requests, seconds, counter)
            result["cpu_us"] = (process_cpu_s(proc.pid) - before) / max(1, result["sales"]) * 1e6
            results.append(result)
        return results
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 30)


async def otel_bench(folder: Path, requests: int, seconds: float) -> None:
    """Telemetry off / live receiver / hanging collector, in one run, same load."""
    from sync.telemetry import DEFAULT_EXPORT_TIMEOUT_S  # noqa: PLC0415 -- bench imports the repo lazily
    from sync.testing.otlp import hanging_collector  # noqa: PLC0415

    # The live receiver runs in a process of its own: decoding spans must not slow the load generator.
    receiver = subprocess.Popen(  # noqa: ASYNC220 -- started once, before any load, like start_agent
        [sys.executable, "-m", "sync.testing.otlp"], cwd=REPO, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True)
    assert receiver.stdin is not None and receiver.stdout is not None
    live = receiver.stdout.readline().strip()
    fast = {"OTEL_METRIC_EXPORT_INTERVAL": "5000"}
    async with hanging_collector() as hanging:
        envs = {"off": None, "live": {"OTEL_EXPORTER_OTLP_ENDPOINT": live, **fast},
                "hanging": {"OTEL_EXPORTER_OTLP_ENDPOINT": hanging, **fast},
                # The standard sampler variables: 1 sale in 10 traced, metrics and logs unchanged.
                "sampled": {"OTEL_EXPORTER_OTLP_ENDPOINT": live, **fast, **SAMPLED}}
        modes = {mode: await otel_mode(folder / mode, env, requests, seconds) for mode, env in envs.items()}
    print(f"{'telemetry':>9} {'clients':>7} {'sales':>6} {'err':>4} {'sales/s':>8} {'p99 ms':>7} "
          f"{'max ms':>8} {'agent CPU us/sale':>17}")
    for mode, results in modes.items():
        for r in results:
            print(f"{mode:>9} {r['clients']:>7} {r['sales']:>6} {r['errors']:>4} {r['rate']:>8.0f} "
                  f"{r['p99_ms']:>7.3f} {r['max_ms']:>8.1f} {r['cpu_us']:>17.0f}")
    receiver.stdin.close()
    print(f"live receiver got {receiver.stdout.readline().strip()}")
    receiver.wait(timeout=30)
    for mode in ("live", "sampled"):
        for n, level in enumerate(OTEL_LEVELS):
            cost = 1 - modes[mode][n]["rate"] / modes["off"][n]["rate"]
            print(f"goal {mode} cost <= {OTEL_GOAL_COST:.0%} at {level} clients: {cost:+.1%} -> "
                  f"{'MET' if cost <= OTEL_GOAL_COST else 'MISSED'}")
    slowest = max(r["max_ms"] for r in modes["hanging"])
    bound = DEFAULT_EXPORT_TIMEOUT_S * 1000
    print(f"goal no sale slower than the collector timeout ({bound:.0f} ms) with a hanging collector: "
          f"slowest {slowest:.1f} ms -> {'MET' if slowest < bound else 'MISSED'}")


def main() -> None:
    """Parse the bounds and run in a temp folder on the default temp disk."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests", type=int, default=3000, help="sales per level (x2 for 8 and 64 clients)"
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="time bound per level")
    parser.add_argument("--otel", action="store_true",
                        help="telemetry off / live receiver / hanging collector")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="agent-bench-") as tmp:
        run = otel_bench if args.otel else bench
        asyncio.run(run(Path(tmp), args.requests, args.seconds))


if __name__ == "__main__":
    main()
