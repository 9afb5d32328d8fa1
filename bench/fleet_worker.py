"""bench/fleet.py's worker process: its share of the terminals in its own event loop, figures sent back.

The parent starts `--procs` of these (multiprocessing, spawn), each with a WorkerSpec. A worker enrolls and
opens its terminals, puts ("ready", wid, None) on the parent's queue, waits for "go" on its own go queue (so
every worker's sales start together), takes the sales, waits until its queues are drained, and puts ("done",
wid, WorkerResult): every batch latency, the outcome counters, each terminal's taken sales and stored rows,
and its own CPU seconds. On failure it puts ("error", wid, traceback) instead of "done". See
docs/operations.md#fleet-simulator.
"""

from __future__ import annotations

import asyncio
import logging
import queue as queues
import random
import resource
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.fleet_terminal import Row, Stats, Terminal, loop_lag, source_address
from sync.testing.proxy import ChaosConfig, ChaosProxy


@dataclass
class WorkerSpec:
    """One worker's share of the fleet (picklable: it crosses the spawn)."""

    wid: int
    indices: list[int]
    codes: list[str]
    outages: dict[int, float]  # terminal index -> outage start (s after the go), for the offline ones
    url: str
    host: str  # the cloud's address, for the chaos proxies
    port: int
    local_sources: bool
    workdir: str
    tag: str
    seed: int
    deadline: float  # time.monotonic() of the parent: CLOCK_MONOTONIC is system-wide on Linux
    sales: int
    interval: float
    offline_seconds: float
    lost_acks: float
    enroll_concurrency: int


@dataclass
class TerminalResult:
    """What one terminal took and stored (what fleet_report.exactly_once reads: .serial, .refs)."""

    serial: str
    refs: dict[str, int]
    rows: list[Row]
    drained: bool


@dataclass
class WorkerResult:
    """Everything one worker measured."""

    stats: Stats
    lag: list[float]
    terminals: list[TerminalResult] = field(default_factory=list)
    dropped: int = 0
    swallowed: int = 0
    cpu: float = 0.0  # this process, start to end
    cpu_sync: float = 0.0  # this process, from the go to all its terminals drained
    waited_sync: float = 0.0  # same span: seconds its threads were runnable but had no core (sched_wait)
    times: tuple[float, float, float] = (0.0, 0.0, 0.0)  # go, last sale, drained (monotonic)


def sched_wait(pid: int | str = "self") -> float:
    """Seconds every thread of a process spent runnable, waiting for a core (/proc/<pid>/task/*/schedstat,
    second field, ns): how much a process was starved of CPU, whatever it did with the CPU it got."""
    total = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total += int(stat.read_text().split()[1])
        except (OSError, IndexError, ValueError):  # a thread that ended while we read
            continue
    return total / 1e9


def cpu_pressure() -> float:
    """Seconds, since boot, that some runnable task of this machine waited for a core (/proc/pressure/cpu)."""
    try:
        some = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return float("nan")
    return int(some.rsplit("total=", 1)[1]) / 1e6


def cpu_self() -> float:
    """utime + stime of this process, every thread (the agent databases' writer threads too)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def gather_bounded(coros: list[Any], limit: int) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(coro: Any) -> Any:
        async with gate:
            return await coro

    return await asyncio.gather(*(one(c) for c in coros))


def build_terminals(spec: WorkerSpec) -> list[Terminal]:
    """This worker's terminals; the offline ones behind their own chaos proxy."""
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
    return terms


async def wait_go(go: Any, deadline: float) -> None:
    """Block (in a thread, the loop keeps serving) until the parent says go."""
    loop = asyncio.get_running_loop()
    try:
        await loop.run_in_executor(None, go.get, True, max(0.0, deadline - time.monotonic()))
    except queues.Empty:
        raise TimeoutError("no go from the parent before --seconds") from None


async def run_share(spec: WorkerSpec, out: Any, go: Any) -> WorkerResult:
    """Enroll, open, wait for go, sell, drain, read back: one worker's whole run."""
    terms = build_terminals(spec)
    stats, lag, stop_lag = Stats(), list[float](), asyncio.Event()
    lag_task = asyncio.create_task(loop_lag(lag, stop_lag))
    result = WorkerResult(stats, lag)
    try:
        enrolls = [t.enroll(spec.url, c, spec.deadline) for t, c in zip(terms, spec.codes, strict=True)]
        await gather_bounded(enrolls, spec.enroll_concurrency)
        await gather_bounded([t.open(spec.url, stats) for t in terms], spec.enroll_concurrency)
        out.put(("ready", spec.wid, None))
        await wait_go(go, spec.deadline)
        lag.clear()  # the lag that matters is while selling and syncing
        t_go, cpu_go, waited_go = time.monotonic(), cpu_self(), sched_wait()
        outages = [t.outage(spec.outages[t.index], spec.offline_seconds)
                   for t in terms if t.proxy is not None]
        sales = [t.take_sales(spec.sales, spec.interval, spec.tag, random.Random(spec.seed + t.index))
                 for t in terms]
        await asyncio.gather(*sales, *outages)
        t_sold = time.monotonic()
        drained = await asyncio.gather(*(t.drained(spec.deadline) for t in terms))
        result.times, result.cpu_sync = (t_go, t_sold, time.monotonic()), cpu_self() - cpu_go
        result.waited_sync = sched_wait() - waited_go
        for t, ok in zip(terms, drained, strict=True):
            result.terminals.append(TerminalResult(t.serial, t.refs, await t.local_sales(), ok))
    finally:
        stop_lag.set()
        await lag_task
        await asyncio.gather(*(t.close() for t in terms))
    proxies = [t.proxy.stats for t in terms if t.proxy is not None]
    result.dropped, result.swallowed = sum(p.dropped for p in proxies), sum(p.swallowed for p in proxies)
    return result


def work(spec: WorkerSpec, out: Any, go: Any) -> None:
    """The worker process's entry point (a module-level function, so spawn can pickle it by name)."""
    # The uploader warns on every failed batch; the bench counts them by kind instead of printing each.
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # ~8 descriptors per terminal
    try:
        result = asyncio.run(run_share(spec, out, go))
        result.cpu = cpu_self()
        out.put(("done", spec.wid, result))
    except BaseException:  # reported to the parent, which fails the run with it
        out.put(("error", spec.wid, traceback.format_exc()))
