"""schemathesis against the cloud's own /openapi.json with a long budget: the CI run's big brother.

    .venv/bin/python bench/schemathesis_cloud.py [--examples 300] [--scenarios 200] [--seconds 600] [--seed N]

Starts `mpac-pgw serve` on 127.0.0.1 over a temp SQLite file, provisions a partner, a store and one
enrolled device, then fuzzes every operation of /openapi.json with `--examples` schema-valid and as many
schema-violating cases per operation and auth mode (partner key, device key, unsigned; HMAC signed at
send time over the body as sent), then `--scenarios` stateful chains over links (create ->
retrieve/confirm/cancel/capture/sync). Checks: no 5xx, documented status code, content type and
response schema. Prints cases tried per route and status, and every distinct failure by check and route
with an example request (no Authorization header) and the server's log tail. `--seconds` bounds the
whole run; `--seed` replays the stateless phase (the stateful phase is random unless --derandomize).
Exit 1 on any failure.
The shared machinery is tests/support/cloud_fuzz.py (the CI test uses it with a short budget).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.cloud_fuzz import (
    AUTH_MODES,
    Report,
    fuzz_operations,
    fuzz_stateful,
    load_schema,
    running_cloud,
    server_log_tail,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=300,
                        help="cases per operation, per generation mode and auth mode (default 300)")
    parser.add_argument("--scenarios", type=int, default=200, help="stateful chains (default 200)")
    parser.add_argument("--steps", type=int, default=8, help="calls per stateful chain at most (default 8)")
    parser.add_argument("--seconds", type=float, default=600.0, help="bound on the whole run (default 600)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the stateless phase (default: a random one, printed); "
                             "--derandomize instead gives the CI behaviour")
    parser.add_argument("--derandomize", action="store_true", help="the same cases every run (as in CI)")
    parser.add_argument("--auth", choices=AUTH_MODES, action="append",
                        help="auth modes to run (repeatable; default all three)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    seed = None if args.derandomize else (args.seed if args.seed is not None else random.randrange(2**32))
    modes = args.auth or list(AUTH_MODES)
    started = time.monotonic()
    deadline = started + args.seconds
    print(f"schemathesis bench: --examples {args.examples} --scenarios {args.scenarios} --steps {args.steps} "
          f"--seconds {args.seconds:g} " + ("--derandomize" if seed is None else f"--seed {seed}")
          + f"; auth {', '.join(modes)}; {os.cpu_count()} cores", flush=True)
    report = Report()
    with tempfile.TemporaryDirectory(prefix="fuzz-cloud-") as tmp, running_cloud(Path(tmp)) as cloud:
        schema = load_schema(cloud)
        for mode in modes:
            before = report.total
            fuzz_operations(schema, cloud.auth(mode), report, examples=args.examples, deadline=deadline,
                            seed=seed)
            print(f"  stateless, auth {mode}: {report.total - before} cases "
                  f"(t={time.monotonic() - started:.0f}s)", flush=True)
        before = report.total
        chains = load_schema(cloud, always_plausible=True)
        fuzz_stateful(chains, cloud.auth("partner"), report, scenarios=args.scenarios, steps=args.steps,
                      deadline=deadline, derandomize=seed is None)
        print(f"  stateful, auth partner: {report.total - before} calls "
              f"(t={time.monotonic() - started:.0f}s)", flush=True)
        log_tail = server_log_tail(Path(tmp))
    print(report.render())
    if time.monotonic() >= deadline:
        print(f"note: stopped by --seconds {args.seconds:g}; not every case of the budget was sent")
    if report.failures or report.network_errors:
        print("--- server log (tail) ---\n" + log_tail)
        print("FAILED")
        return 1
    print(f"OK: {report.total} cases, no failures, in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
