"""`mpac-pgw serve` as a process: no simulator routes unless `--simulator-routes`, and then a warning."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from .test_serve import pgw_command


def _serve(tmp_path: Path, *flags: str) -> tuple[str, subprocess.Popen[str]]:
    db = f"sqlite:///{tmp_path / 'pgw.sqlite3'}"
    env = {k: v for k, v in os.environ.items() if k != "MPAC_PGW_ENCRYPTION_KEY"}
    proc = subprocess.Popen([*pgw_command(), "serve", "--port", "0", "--db", db, *flags],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("mpac-pgw listening on http://127.0.0.1:"), line
    return line.split()[-1], proc


def _pay(base: str) -> tuple[int, str]:
    url = base + "/_simulator/payment_intents/pi_01J00000000000000000000000/pay"
    req = urllib.request.Request(url, data=b"", method="POST")  # noqa: S310 — loopback URL we started
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 — loopback URL we started
            return int(resp.status), ""
    except urllib.error.HTTPError as err:
        return err.code, str(json.loads(err.read())["error"]["code"])


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=15)
    return err


@pytest.mark.parametrize(("flags", "code", "warned"), [
    ((), "route_not_found", False),
    (("--simulator-routes",), "resource_missing", True),
])  # fmt: skip
def test_routes_only_with_the_flag(tmp_path: Path, flags: tuple[str, ...], code: str, warned: bool) -> None:
    """A plain serve has no route (404 route_not_found); with the flag the route exists (its 404 is the
    unknown intent, resource_missing) and stderr carries the warning."""
    base, proc = _serve(tmp_path, *flags)
    try:
        assert _pay(base) == (404, code)
    finally:
        err = _stop(proc)
    assert ("simulator routes are ON" in err) is warned, err
