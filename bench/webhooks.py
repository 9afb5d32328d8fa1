"""Outbound webhooks: deliveries/s to a loopback receiver, and create-intent throughput of `mpac-pgw serve`
with one subscribed webhook endpoint vs none, in the same run (docs/cloud-api.md#webhooks; goal: the outbox
costs the API at most ~10 %).

    .venv/bin/python bench/webhooks.py [--requests 2000] [--concurrency 16] [--seconds 20] [--wait 20]

Two gateways (fresh SQLite each, seeded through the admin CLI like bench/pgw_create.py) run one after the
other on the same core; the second has one endpoint (all event types) pointing at an aiohttp receiver in
this process. Deliveries are counted at the receiver until every event the gateway wrote has arrived or
`--wait` seconds pass. Every run is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import web

from bench.pgw_create import closed_loop, seed, start_server, stop


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


def add_endpoint(py: str, db: str, partner_id: str, url: str) -> None:
    """One webhook endpoint of the bench partner, every event type, loopback allowed."""
    subprocess.run([py, "-m", "cloud.cli", "admin", "webhook", "add", "--partner", partner_id, "--url", url,
                    "--allow-loopback", "--db", db], capture_output=True, text=True, check=True)  # fmt: skip


async def run(args: argparse.Namespace, core: int) -> None:
    py = sys.executable
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    env = {**os.environ, "MPAC_PGW_WEBHOOK_ALLOW_LOOPBACK": "1", "MPAC_PGW_WEBHOOK_POLL_SECONDS": "0.2"}
    results = {}
    with tempfile.TemporaryDirectory(prefix="pgw-webhooks-bench-") as tmp:
        for name in ("none", "1 endpoint"):
            db = f"sqlite:///{Path(tmp) / (name.replace(' ', '_') + '.sqlite3')}"
            partner_id = seed(py, db)
            if name != "none":
                add_endpoint(py, db, partner_id, f"http://127.0.0.1:{port}/hook")
            serve = [py, "-m", "cloud.cli", "serve", "--port", "0", "--db", db,
                     "--rate-limit-per-minute", "1000000000"]  # fmt: skip
            proc, url = start_server(serve, core, env)
            try:
                results[name] = await closed_loop(name, url, args.requests, args.concurrency,
                                                  seconds=args.seconds, tag=name[0], pid=proc.pid)
                if name != "none":
                    receiver.target = results[name].done
                    with contextlib.suppress(TimeoutError):  # bounded in time: --wait
                        await asyncio.wait_for(receiver.reached.wait(), args.wait)
            finally:
                stop(proc)
    await runner.cleanup()
    for result in results.values():
        print(result.line())
    base, hooked = results["none"], results["1 endpoint"]
    span = receiver.last - receiver.first
    rate = f"{(receiver.count - 1) / span:.0f} deliveries/s" if receiver.count > 1 and span > 0 else "n/a"
    print(f"deliveries: {receiver.count} received for {hooked.done} intents created; {rate}")
    ratio = hooked.rps / base.rps
    print(f"ratio create-intent throughput 1 endpoint / none: {ratio:.1%}   goal >= 90%: "
          f"{'met' if ratio >= 0.9 else 'MISSED'}")  # fmt: skip
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (other work on these cores skews both sides)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="create requests per gateway (bound)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0, help="time bound of each create run")
    parser.add_argument("--wait", type=float, default=20.0, help="time bound waiting for deliveries")
    args = parser.parse_args()
    asyncio.run(run(args, sorted(os.sched_getaffinity(0))[0]))


if __name__ == "__main__":
    main()
