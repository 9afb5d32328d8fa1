"""Every benchmark in bench/ still runs: a tiny, bounded run of each, checked for exit code 0 and its figures.

The figures are not asserted (speed goals are measured by the benchmarks, never by tests); this only keeps
the scripts from rotting when the code they drive moves.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]

RUNS = {
    "agent_capture": (["--requests", "60", "--seconds", "5"], "sales/s"),
    "fleet": (["--terminals", "4", "--procs", "2", "--sales-per-terminal", "2", "--sale-interval", "0.2",
               "--offline-fraction", "0.25", "--offline-seconds", "0.3", "--seconds", "60"],
              "exactly once: yes"),
    "pgw_create": (["--requests", "600", "--rounds", "1", "--rate", "50", "--rate-seconds", "1"], "req/s"),
    "pgw_scale": (["--requests", "100", "--seconds", "3", "--rate", "50", "--rate-seconds", "1",
                   "--batches", "1", "--devices", "1"], "items/s"),
    "sync_drain": (["--items", "300", "--no-peer"], "acked"),
    "sync_intake": (["--batches", "2", "--seconds", "10"], "items/s"),
    "receipt_encode": (["--seconds", "0.05"], "receipt"),
    "webhooks": (["--requests", "50", "--seconds", "5", "--wait", "2"], "deliveries"),
}


@pytest.mark.parametrize("name", sorted(RUNS))
def test_benchmark_runs(name: str) -> None:
    args, marker = RUNS[name]
    run = subprocess.run([sys.executable, str(REPO / "bench" / f"{name}.py"), *args], cwd=REPO,
                         capture_output=True, text=True, timeout=180, check=False)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    assert marker in run.stdout, run.stdout[-2000:]
