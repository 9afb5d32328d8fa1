"""bench/fleet.py's verdict: exactly-once (what terminals took vs what the cloud stored) and the figures.

See docs/operations.md#fleet-simulator.
"""

from __future__ import annotations

import argparse
import math
import statistics
from collections import Counter
from dataclasses import dataclass
from typing import Any, Protocol

from bench.fleet_terminal import Row, Stats
from bench.fleet_worker import WorkerResult


class Taken(Protocol):
    """A terminal as the verdict sees it: its serial and every sale it took (merchant_ref_id -> amount)."""

    @property
    def serial(self) -> str: ...

    @property
    def refs(self) -> dict[str, int]: ...


def exactly_once(terminals: list[Taken], local: list[list[Row]],
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



@dataclass
class Outcome:
    """Everything a run measured, for the report."""

    workers: list[WorkerResult]
    intents: list[dict[str, Any]]
    usage: tuple[float, ...]  # go to the last worker done: fleet.usage (cloud CPU, its wait, CPU pressure)
    parent_cpu: float  # this process: provisioning, coordination, the final listing
    cores: int  # CPUs this process may run on


def merged(workers: list[WorkerResult]) -> tuple[Stats, list[float]]:
    """The fleet's batch figures and every worker's event-loop lag samples."""
    stats, lag = Stats(), list[float]()
    for w in workers:
        stats.absorb(w.stats)
        lag += w.lag
    return stats, lag


def print_cpu(run: Outcome, seconds: float, lag: list[float]) -> None:
    """Generator vs cloud CPU over the selling and syncing, so a reader sees which side saturates."""
    sync_cpu, waited = sum(w.cpu_sync for w in run.workers), sum(w.waited_sync for w in run.workers)
    lag_p99 = statistics.quantiles(lag, n=100)[98] * 1000 if len(lag) > 1 else float("nan")
    cloud_cpu, cloud_wait, pressure = run.usage
    print(f"  CPU while selling and syncing ({seconds:.1f}s, {run.cores} cores; the machine had a task "
          f"waiting for a core {pressure / seconds:.0%} of the time):")
    print(f"    generator {sync_cpu:.1f}s = {sync_cpu / seconds:.2f} cores over {len(run.workers)} procs, "
          f"its threads waited {waited:.1f}s for a core; event-loop lag p99 {lag_p99:.1f} ms")
    if math.isnan(cloud_cpu):
        print("    cloud: not measured (--cloud: not started here)")
    else:
        print(f"    cloud {cloud_cpu:.1f}s = {cloud_cpu / seconds:.2f} cores, its threads waited "
              f"{cloud_wait:.1f}s for a core")
    print(f"  generator CPU in all (enrollment, coordination and listing too): "
          f"{sum(w.cpu for w in run.workers) + run.parent_cpu:.1f}s")


def report(args: argparse.Namespace, run: Outcome) -> int:
    """Print the figures and the exactly-once verdict; the exit code."""
    stats, lag = merged(run.workers)
    terms = [t for w in run.workers for t in w.terminals]
    t1, t_sold = min(w.times[0] for w in run.workers), max(w.times[1] for w in run.workers)
    t_drained = max(w.times[2] for w in run.workers)
    taken, seconds = sum(len(t.refs) for t in terms), max(t_drained - t1, 1e-9)
    print(f"  sales: {taken} taken in {t_sold - t1:.1f}s; all synced {t_drained - t_sold:.1f}s after the "
          f"last sale; {stats.items} items in {len(stats.latencies)} batches = "
          f"{stats.items / seconds:,.0f} items/s, {len(stats.latencies) / seconds:,.0f} batches/s over "
          f"{seconds:.1f}s")
    print(f"  sync batch latency: p50 {stats.pct(50):.1f} ms  p95 {stats.pct(95):.1f} ms  "
          f"p99 {stats.pct(99):.1f} ms  max {max(stats.latencies, default=0) * 1000:.1f} ms")
    print(f"  results: {dict(stats.results)}")
    print(f"  errors: {dict(stats.errors) or 'none'}; injected (offline, lost answers): "
          f"{dict(stats.injected) or 'none'}; the proxies dropped {sum(w.dropped for w in run.workers)} and "
          f"lost the answer of {sum(w.swallowed for w in run.workers)} exchanges")
    print_cpu(run, seconds, lag)
    problems = exactly_once(list(terms), [t.rows for t in terms], run.intents)
    if not all(t.drained for t in terms):
        pending = sum(not t.drained for t in terms)
        problems.append(f"{pending} terminal(s) still had sales pending at --seconds")
    print(f"  exactly once: {'yes' if not problems else 'NO'} ({len(run.intents)} intents in the cloud for "
          f"{taken} sales)")
    for line in problems[:20]:
        print(f"    {line}")
    p95 = stats.pct(95)
    print(f"  sync p95 {p95:.1f} ms " + ("≤" if p95 <= 200 else ">") + " 200 ms (the SLO)")
    failed = bool(problems or stats.errors)
    if args.max_p95_ms is not None and not p95 <= args.max_p95_ms:
        failed = True
    print("FAILED" if failed else "OK")
    return 1 if failed else 0
