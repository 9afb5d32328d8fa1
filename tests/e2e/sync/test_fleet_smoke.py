"""bench/fleet.py stays runnable: a tiny fleet against a real cloud ends exactly once, and its verdict is not
vacuous (a missing, duplicated or mismatched sale is reported)."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[3]
FLEET = REPO / "bench" / "fleet.py"


def _fleet_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_fleet", FLEET)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_tiny_fleet_syncs_every_sale_exactly_once(tmp_path: Path) -> None:
    """Five terminals in two worker processes, three sales each, two of them offline for a moment and losing
    answers afterwards: exit 0, every sale in the cloud once, no unexpected error."""
    run = subprocess.run(
        [sys.executable, str(FLEET), "--terminals", "5", "--sales-per-terminal", "3",
         "--sale-interval", "0.3", "--offline-fraction", "0.4", "--offline-seconds", "0.5",
         "--lost-acks", "0.3", "--seconds", "150", "--seed", "10", "--procs", "2"],
        check=False, cwd=REPO, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "exactly once: yes (15 intents in the cloud for 15 sales)" in run.stdout, run.stdout
    assert "errors: none" in run.stdout, run.stdout


def test_a_failing_worker_fails_the_run_with_its_traceback(tmp_path: Path) -> None:
    """A cloud URL where nothing listens: the workers cannot enroll, each sends its error, and the run exits 1
    with the worker's traceback, well before --seconds."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free once closed: nothing listens there
    run = subprocess.run(
        [sys.executable, str(FLEET), "--terminals", "2", "--procs", "2", "--cloud", f"http://127.0.0.1:{port}",
         "--db", f"sqlite:///{tmp_path / 'pgw.sqlite3'}", "--seconds", "60"],
        check=False, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stdout[-2000:] + run.stderr[-2000:]
    assert "failed:" in run.stderr, run.stderr[-3000:]
    assert "EnrollmentError: Cannot reach the cloud" in run.stderr, run.stderr[-3000:]


def test_exactly_once_reports_every_kind_of_difference() -> None:
    """The verdict names a sale left queued, one acked but absent from the cloud, a cloud intent with another
    amount, a ref twice in the cloud, and an intent nobody took."""
    fleet = _fleet_module()
    term = fleet.Terminal(0, "T0", Path("."), None)
    term.refs = {"r-queued": 100, "r-lost": 200, "r-amount": 300, "r-ok": 400}
    local = [[("r-queued", "queued", None, 100), ("r-lost", "acked", "pi_1", 200),
              ("r-amount", "acked", "pi_2", 300), ("r-ok", "acked", "pi_3", 400)]]
    intents = [{"id": "pi_2", "merchant_ref_id": "r-amount", "amount": 301, "status": "succeeded"},
               {"id": "pi_3", "merchant_ref_id": "r-ok", "amount": 400, "status": "succeeded"},
               {"id": "pi_4", "merchant_ref_id": "r-ok", "amount": 400, "status": "succeeded"},
               {"id": "pi_5", "merchant_ref_id": "r-stray", "amount": 1, "status": "succeeded"}]
    problems = "\n".join(fleet.exactly_once([term], local, intents))
    for expected in ("r-queued: queued", "r-lost: acked as pi_1 but not in the cloud",
                     "r-amount: cloud has pi_2 301", "r-ok: 2 intents in the cloud",
                     "r-stray: in the cloud, never taken"):
        assert expected in problems, problems
    assert fleet.exactly_once([term], [local[0][3:]], intents[1:2]) == ["T0: 1 sales stored, 4 taken"]
