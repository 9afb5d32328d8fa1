"""Outbound webhooks: deliveries/s to a loopback receiver, and the API's throughput with one subscribed
webhook endpoint vs none, in the same run (docs/cloud-api.md#webhooks; goal: the outbox costs the API at most
~10 %).

    .venv/bin/python bench/webhooks.py [--requests 1500] [--rounds 3] [--concurrency 16] [--seconds 15]
                                       [--wait 30]

Three gateways (fresh SQLite each, seeded through the admin CLI like bench/pgw_create.py) run side by side on
the same core: "none" has no webhook endpoint; "1 endpoint" has one (all event types) pointing at an aiohttp
receiver in this process; "1 endpoint, unsent" has one too but its dispatcher polls once an hour, so it only
writes the outbox: the cost on the request path alone, without the sending. Rounds cycle through them, the
order rotating each round, so a noisy neighbour hits all alike. Two phases:
1. create: create-intent only. A create announces nothing, so this is the cost of a subscribed endpoint on
   the plain create path (it should be none).
2. create+cancel: each step creates an intent and cancels it; every cancel writes a payment_intent.cancelled
   event and its delivery in the cancel's own transaction, and the gateway's dispatcher sends it to the
   receiver while the load runs. This is the outbox's real cost; deliveries/s is counted at the receiver
   from its first to its last delivery, waiting up to `--wait` s for every event written (while the load
   runs, that rate is bounded by how fast events are made).
3. drain: the "unsent" gateway is restarted with its dispatcher on, alone on the core: the rate at which its
   backlog of cancel events reaches the receiver is the delivery throughput itself.
Every run is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import web

from bench.pgw_create import (
    PATH,
    Bodies,
    Connection,
    Result,
    Step,
    closed_loop,
    create_step,
    pooled,
    seed,
    start_server,
    stop,
)

HOOKED, PLAIN, UNSENT = "1 endpoint", "none", "1 endpoint, unsent"
POLL = {PLAIN: "0.2", HOOKED: "0.2", UNSENT: "3600"}  # MPAC_PGW_WEBHOOK_POLL_SECONDS of each gateway


class Receiver:
    """A loopback endpoint that counts deliveries and the time of the first and last."""

    def __init__(self) -> None:
        self.count, self.first, self.last = 0, 0.0, 0.0
        self.target, self.reached = 0, asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        now = time.perf_counter()
        self.first = self.first or now
        self.count, self.last = self.count + 1, now
        if self.target and self.count >= self.target:
            self.reached.set()
        return web.Response(status=204)

    def reset(self, target: int) -> None:
        """Count afresh, up to `target` deliveries."""
        self.count, self.first, self.last = 0, 0.0, 0.0
        self.target, self.reached = target, asyncio.Event()

    def rate(self) -> str:
        """Deliveries per second between the first and the last one."""
        span = self.last - self.first
        return f"{(self.count - 1) / span:.0f} deliveries/s" if self.count > 1 and span > 0 else "n/a"


async def create_cancel_step(conn: Connection, bodies: Bodies) -> bool:
    """Create an intent, then cancel it (one payment_intent.cancelled event); True if both succeeded."""
    if not await create_step(conn, bodies):
        return False
    intent_id = json.loads(conn.last_body)["id"]
    return await conn.post(f"{PATH}/{intent_id}/cancel", b"{}") == 200


def add_endpoint(py: str, db: str, partner_id: str, url: str) -> None:
    """One webhook endpoint of the bench partner, every event type, loopback allowed."""
    subprocess.run([py, "-m", "cloud.cli", "admin", "webhook", "add", "--partner", partner_id, "--url", url,
                    "--allow-loopback", "--db", db], capture_output=True, text=True, check=True)  # fmt: skip


async def alternate(servers: dict[str, tuple[str, int]], args: argparse.Namespace, label: str,
                    step: Step) -> dict[str, list[Result]]:  # fmt: skip
    """`--rounds` rounds of `step` on each gateway, the order rotating each round."""
    runs: dict[str, list[Result]] = {name: [] for name in servers}
    names = list(servers)
    for n in range(args.rounds):
        for name in names[n % len(names):] + names[:n % len(names)]:
            url, pid = servers[name]
            runs[name].append(await closed_loop(name, url, args.requests, args.concurrency,
                                                seconds=args.seconds, tag=f"{label}{name[0]}{n}", pid=pid,
                                                step=step))  # fmt: skip
        print(f"{label} round {n + 1}: " + "   ".join(
            f"{name} {runs[name][-1].rps:5.0f}/s {runs[name][-1].cpu_us:5.0f} us" for name in names))
    return runs


def report(label: str, runs: dict[str, list[Result]]) -> None:
    """Pooled lines and, against "none", the throughput and server-CPU ratios of one phase."""
    pooled_runs = {name: pooled(f"{label} {name}", rs) for name, rs in runs.items()}
    plain = pooled_runs[PLAIN]
    for name, result in pooled_runs.items():
        print(result.line())
        if name != PLAIN:
            ratio = result.rps / plain.rps
            cpu = result.cpu_us / plain.cpu_us
            print(f"  {label}: {name} / none: throughput {ratio:.1%} (goal >= 90%: "
                  f"{'met' if ratio >= 0.9 else 'MISSED'}), server CPU per step {cpu:.1%}")


def serve(py: str, db: str, core: int, env: dict[str, str], poll: str) -> tuple[subprocess.Popen[str], str]:
    """`mpac-pgw serve` on `db`, its dispatcher polling every `poll` seconds; the process and its URL."""
    return start_server([py, "-m", "cloud.cli", "serve", "--port", "0", "--db", db,
                         "--rate-limit-per-minute", "1000000000"], core,
                        {**env, "MPAC_PGW_WEBHOOK_POLL_SECONDS": poll})  # fmt: skip


async def wait_for(receiver: Receiver, seconds: float) -> None:
    """Until the receiver has its target, or `seconds` pass."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(receiver.reached.wait(), seconds)


async def drain(receiver: Receiver, backlog: int, start: subprocess.Popen[str], wait: float) -> str:
    """The unsent gateway again, its dispatcher on: how fast its backlog reaches the receiver, alone on the
    core (no API load)."""
    receiver.reset(backlog)
    try:
        await wait_for(receiver, wait)
    finally:
        stop(start)
    return f"backlog of '{UNSENT}' drained alone: {receiver.count} of {backlog}; {receiver.rate()}"


async def run(args: argparse.Namespace, core: int) -> None:
    py, receiver = sys.executable, Receiver()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    hook_url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    env = {**os.environ, "MPAC_PGW_WEBHOOK_ALLOW_LOOPBACK": "1"}
    procs: dict[str, subprocess.Popen[str]] = {}
    with tempfile.TemporaryDirectory(prefix="pgw-webhooks-bench-") as tmp:
        dbs = {name: f"sqlite:///{Path(tmp) / f'gateway{n}.sqlite3'}" for n, name in enumerate(POLL)}
        servers: dict[str, tuple[str, int]] = {}
        try:
            for name, db in dbs.items():
                partner_id = seed(py, db)
                if name != PLAIN:
                    add_endpoint(py, db, partner_id, hook_url)
                procs[name], url = serve(py, db, core, env, POLL[name])
                servers[name] = (url, procs[name].pid)
            for name, (url, _) in servers.items():  # warm-up, not counted
                await closed_loop("warm-up", url, 300, args.concurrency, seconds=10, tag=f"w{name[0]}")
            created = await alternate(servers, args, "create", create_step)
            cancelled = await alternate(servers, args, "create+cancel", create_cancel_step)
            receiver.target = sum(r.done for r in cancelled[HOOKED])
            await wait_for(receiver, args.wait)
            during = (f"deliveries of '{HOOKED}' during the load: {receiver.count} of {receiver.target}; "
                      f"{receiver.rate()} (its dispatcher sharing the core with the API)")  # fmt: skip
            stop(procs.pop(UNSENT))
            drained = await drain(receiver, sum(r.done for r in cancelled[UNSENT]),
                                  serve(py, dbs[UNSENT], core, env, "0.2")[0], args.wait)  # fmt: skip
        finally:
            for proc in procs.values():
                stop(proc)
    await runner.cleanup()
    report("create", created)
    report("create+cancel", cancelled)
    print(during)
    print(drained)
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (other work on these cores skews both sides)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1500, help="steps per gateway per round (bound)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per phase")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=15.0, help="time bound of each run")
    parser.add_argument("--wait", type=float, default=30.0, help="time bound waiting for deliveries")
    args = parser.parse_args()
    asyncio.run(run(args, sorted(os.sched_getaffinity(0))[0]))


if __name__ == "__main__":
    main()
