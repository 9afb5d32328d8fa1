"""`mpac-agent demo`, the README's first command, as a newcomer runs it: real processes on loopback."""

from __future__ import annotations

import json
import os
import re
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

READY = re.compile(
    r"Cashier screen : (http://\S+)/\n.*Status page    : (http://\S+)\n.*Cloud \(pgw\)    : (https://\S+)",
    re.S)


def _get(url: str, ca_file: Path | None = None) -> tuple[int, bytes]:
    context = None if ca_file is None else ssl.create_default_context(cafile=str(ca_file))
    with urllib.request.urlopen(url, timeout=10, context=context) as resp:  # noqa: S310 -- loopback URL
        return resp.status, resp.read()


def _post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(  # noqa: S310 -- loopback URL printed by the demo
        url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 -- loopback URL printed by the demo
        return resp.status, json.loads(resp.read())


def _start(state: Path) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent.entrypoints.cli", "demo",
         "--state-dir", str(state), "--cloud-port", "0",
         "--agent-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    out = ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        out += line
        match = READY.search(out)
        if match:
            return proc, list(match.groups())
    proc.kill()
    pytest.fail(f"demo did not print its URLs:\n{out}")


def _stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGINT)
    return proc.wait(timeout=30)


def _wait_acked(agent: str, count: int) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        _, raw = _get(f"{agent}/api/status")
        status = json.loads(raw)
        if status["queue"]["by_sync_state"]["acked"] >= count:
            return status
        time.sleep(0.2)
    pytest.fail(f"sales were not acknowledged by the cloud: {status.get('queue')} {status.get('sync')}")


class TestDemo:
    def test_starts_everything_takes_sales_and_syncs_them(self, tmp_path: Path) -> None:
        """Both URLs printed; a cash and a simulated-reader card sale reach the cloud; Ctrl-C stops all."""
        state = tmp_path / "demo"
        proc, (agent, status_url, cloud) = _start(state)
        try:
            assert status_url == f"{agent}/status"
            ca_file = state / "tls" / "ca.pem"  # the demo's throwaway CA: the cloud is verified HTTPS
            assert json.loads(_get(f"{cloud}/health", ca_file)[1]) == {"status": "ok"}
            with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
                _get(f"{cloud}/health")  # the system store does not know it
            assert _get(f"{agent}/")[0] == 200 and _get(status_url)[0] == 200
            code, cash = _post(f"{agent}/api/sales", {"amount": 1200, "payment_method": "cash",
                                                      "cash_received": 2000})
            assert code == 201 and cash["result"]["change"] == 800
            code, card = _post(f"{agent}/api/sales", {"amount": 3300, "payment_method": "card"})
            assert code == 201 and card["status"] == "succeeded"
            assert card["result"]["card_last_4"] == "4242"  # answered by the card reader simulator on its pty
            status = _wait_acked(agent, 2)
            assert status["sync"]["last_error"] is None
            assert status["certificate"]["state"] == "verified", status["certificate"]
            assert status["certificate"]["ca"] == str(ca_file)
        finally:
            assert _stop(proc) == 0
        assert (state / "pgw.sqlite3").exists() and (state / "agent" / "agent.sqlite3").exists()

    def test_second_run_keeps_the_sales_and_the_device(self, tmp_path: Path) -> None:
        """Running the demo again reuses the enrolled device and finds the earlier sale."""
        state = tmp_path / "demo"
        proc, (agent, _, _) = _start(state)
        try:
            _, first = _post(f"{agent}/api/sales",
                             {"amount": 500, "payment_method": "cash", "cash_received": 500})
            device = json.loads((state / "demo.json").read_text())["device_id"]
        finally:
            assert _stop(proc) == 0
        assert oct(os.stat(state / "demo.json").st_mode & 0o777) == "0o600"
        proc, (agent, _, _) = _start(state)
        try:
            _, raw = _get(f"{agent}/api/sales/{first['local_id']}")
            assert json.loads(raw)["hash"] == first["hash"]
            assert json.loads((state / "demo.json").read_text())["device_id"] == device
        finally:
            assert _stop(proc) == 0
