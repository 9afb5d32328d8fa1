"""Long chaos run of issue 5: ≥ 200 agent SIGKILL/restart cycles, the cloud restarted once, exactly once.

    .venv/bin/python bench/sync_chaos.py [--cycles 200] [--seed N] [--cloud real|reference|auto]

Prints the seed first (replay a failure with --seed), then the comparison of both ends. Exit 1 on any
difference. `auto` uses the real cloud (mpac-pgw serve) when it has the sync endpoint, else the reference
endpoint of sync.testing, and says which.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sync.testing.chaos import ChaosPlan, ChaosUnavailable, run_chaos


async def _main(args: argparse.Namespace) -> int:
    seed = args.seed or random.SystemRandom().randrange(1, 2**31)
    print(f"seed={seed} cycles={args.cycles} (replay: --seed {seed})", flush=True)
    kinds = ["real", "reference"] if args.cloud == "auto" else [args.cloud]
    for kind in kinds:
        with tempfile.TemporaryDirectory(prefix="sync-chaos-") as tmp:
            try:
                report = await run_chaos(ChaosPlan(cycles=args.cycles, seed=seed, cloud=kind), Path(tmp))
            except ChaosUnavailable as err:
                print(f"cloud={kind}: unavailable: {err}", flush=True)
                continue
            print(f"cloud={kind} {'OK' if report.ok else 'FAILED'} {report.summary()}", flush=True)
            return 0 if report.ok else 1
    return 2


def main() -> int:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cloud", choices=["auto", "real", "reference"], default="auto")
    return asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
