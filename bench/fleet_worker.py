"""bench/fleet.py's worker process: its share of the terminals in its own event loop, figures sent back.

The parent starts `procs` of these (spawn), each with a WorkerSpec. A worker enrolls and opens its terminals,
puts ("ready", wid), waits for the parent's go (so every worker's sales start together), takes the sales,
waits until its queues are drained, and puts ("done", wid, WorkerResult): every batch latency, the outcome
counters, each terminal's taken sales and stored rows, and its own CPU seconds. On failure: ("error", wid,
traceback). One message of each kind per worker, so the queue is bounded by 2 x procs.
"""

from __future__ import annotations

import asyncio
import logging
import random
import resource
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.fleet_terminal import Stats, Terminal, loop_lag, source_address
from sync.testing.proxy import ChaosConfig, ChaosProxy

Row = tuple[str, str, str | None, int]


@dataclass
class WorkerSpec:
    """One worker's share of the fleet (picklable)."""

    wid: int
    indices: list[int]
    codes: list[str]
    outages: dict[int, float]  # terminal index -> outage start (s after the go), for the offline ones
    url: str
    host: str
    port: int
    local_sources: bool
    workdir: str
    tag: str
    seed: int
    deadline: float  # time.monotonic() (system-wide on Linux, so the parent's clock)
    sales: int
    interval: float
    offline_seconds: float
    lost_acks: float
    enroll_concurrency: int


@dataclass
class TerminalResult:
    serial: str
    refs: dict[str, int]
    rows: list[Row]
    drained: bool


@dataclass
class WorkerResult:
    stats: Stats
    lag: list[float]
    terminals: list[TerminalResult] = field(default_factory=list)
    dropped: int = 0
    swallowed: int = 0
    cpu: float = 0.0  # this process, start to end
    cpu_sync: float = 0.0  # this process, from the go to all drained
    times: tuple[float, float, float] = (0.0, 0.0, 0.0)  # go, last sale, drained (monotonic)


def cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def gather_bounded(coros: list[Any], limit: int) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(coro: Any) -> Any:
        async with gate:
            return await coro

    return await asyncio.gather(*(one(c) for c in coros))


async def run_share(spec: WorkerSpec, queue: Any, go: Any) -> WorkerResult:
    terms = []
    for i in spec.indices:
        workdir = Path(spec.workdir) / f"t{i}"
        workdir.mkdir()
        source = source_address(i) if spec.local_sources else None
        term = Terminal(i, f"FLEET-{spec.tag}-{i:05d}", workdir, source)
        if i in spec.outages:  # the proxy's random stream comes from its config: one seed per terminal
            term.proxy = ChaosProxy(spec.host, spec.port, ChaosConfig(seed=spec.seed + i))
            term.lost_acks = spec.lost_acks
        terms.append(term)
    stats, lag, stop_lag = Stats(), list[float](), asyncio.Event()
    lag_task = asyncio.create_task(loop_lag(lag, stop_lag))
    result = WorkerResult(stats, lag)
    try:
        enrolls = [t.enroll(spec.url, c, spec.deadline) for t, c in zip(terms, spec.codes, strict=True)]
        await gather_bounded(enrolls, spec.enroll_concurrency)
        await gather_bounded([t.open(spec.url, stats) for t in terms], spec.enroll_concurrency)
        queue.put(("ready", spec.wid, None))
        loop = asyncio.get_running_loop()
        if not await loop.run_in_executor(None, go.wait, max(0.0, spec.deadline - time.monotonic())):
            raise TimeoutError("no go from the parent before --seconds")
        lag.clear()  # the lag that matters is while selling and syncing
        t_go, cpu_go = time.monotonic(), cpu_self()
        outages = [t.outage(spec.outages[t.index], spec.offline_seconds)
                   for t in terms if t.proxy is not None]
        sales = [t.take_sales(spec.sales, spec.interval, spec.tag, random.Random(spec.seed + t.index))
                 for t in terms]
        await asyncio.gather(*sales, *outages)
        t_sold = time.monotonic()
        drained = await asyncio.gather(*(t.drained(spec.deadline) for t in terms))
        result.times, result.cpu_sync = (t_go, t_sold, time.monotonic()), cpu_self() - cpu_go
        for t, ok in zip(terms, drained, strict=True):
            result.terminals.append(TerminalResult(t.serial, t.refs, await t.local_sales(), ok))
    finally:
        stop_lag.set()
        await lag_task
        await asyncio.gather(*(t.close() for t in terms))
    proxies = [t.proxy.stats for t in terms if t.proxy is not None]
    result.dropped, result.swallowed = sum(p.dropped for p in proxies), sum(p.swallowed for p in proxies)
    return result


def work(spec: WorkerSpec, queue: Any, go: Any) -> None:
    """The process entry point."""
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    try:
        result = asyncio.run(run_share(spec, queue, go))
        result.cpu = cpu_self()
        queue.put(("done", spec.wid, result))
    except BaseException:
        queue.put(("error", spec.wid, traceback.format_exc()))
