"""Runs INSIDE the booted Debian root (systemd as PID 1), as a oneshot unit: drives mpac-agent.service through
start, a cash sale, SIGKILL, a SIGSTOP freeze (watchdog), a clean stop and a bad config, writes what it saw to
/probe.json and powers the container off. Standard library only (the root's python3)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import traceback
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

UNIT = "mpac-agent.service"
API = "http://127.0.0.1:8700"
CONFIG = Path("/etc/mpac-agent/agent.toml")
BOUND_S = 60.0
out: dict[str, Any] = {"errors": []}


def sh(*cmd: str, check: bool = False) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=check)
    return proc.stdout + proc.stderr


def show(*props: str) -> dict[str, str]:
    text = sh("systemctl", "show", UNIT, *[f"--property={p}" for p in props])
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def wait(predicate: Any, bound_s: float = BOUND_S) -> bool:
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def active_with_new_pid(old: str) -> bool:
    now = show("ActiveState", "MainPID")
    return now.get("ActiveState") == "active" and now.get("MainPID") not in ("0", old)


def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(API + path, data=data, method=method,  # noqa: S310 -- loopback
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 -- loopback
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def rss_kib(pid: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


def journal(since: str) -> str:
    return sh("journalctl", "-u", UNIT, "--since", since, "--no-pager", "-o", "cat")


def steps() -> None:
    out["booted_active"] = wait(lambda: show("ActiveState")["ActiveState"] == "active")
    sh("systemctl", "stop", UNIT)
    started = time.monotonic()
    out["start_rc"] = subprocess.run(["systemctl", "start", UNIT], timeout=120, check=False).returncode
    out["start_to_ready_s"] = round(time.monotonic() - started, 3)  # Type=notify: returns at READY=1
    out["after_start"] = show("ActiveState", "SubState", "StatusText", "MainPID", "User")
    time.sleep(3)
    pid = show("MainPID")["MainPID"]
    out["idle_rss_kib"] = rss_kib(pid)
    out["sale"] = call("POST", "/api/sales", {"amount": 1200, "currency": "JPY", "payment_method": "cash",
                                              "cash_received": 2000, "merchant_ref_id": "boot-1"})
    local_id = out["sale"][1].get("local_id", "")
    sh("systemctl", "kill", "-s", "SIGKILL", UNIT)
    out["restarted_after_kill"] = wait(lambda: active_with_new_pid(pid))
    out["sale_after_kill"] = call("GET", f"/api/sales/{local_id}")[0]
    pid = show("MainPID")["MainPID"]
    since = time.strftime("%Y-%m-%d %H:%M:%S")
    os.kill(int(pid), signal.SIGSTOP)
    out["restarted_after_freeze"] = wait(lambda: active_with_new_pid(pid), 90)
    out["watchdog_logged"] = "Watchdog timeout" in sh("journalctl", "--since", since, "--no-pager")
    out["sale_after_freeze"] = call("GET", f"/api/sales/{local_id}")[0]
    out["nrestarts"] = show("NRestarts")["NRestarts"]
    sh("systemd-analyze", "log-level", "debug")  # PID 1 then logs each notification it receives
    since = time.strftime("%Y-%m-%d %H:%M:%S")
    time.sleep(1)
    sh("systemctl", "stop", UNIT)
    sh("systemd-analyze", "log-level", "info")
    out["after_stop"] = show("ActiveState", "Result", "ExecMainStatus", "ExecMainCode")
    everything = sh("journalctl", "--since", since, "--no-pager", "-o", "cat")
    out["stopping_seen"] = "STOPPING=1" in everything
    out["stopped_cleanly_logged"] = "stopped cleanly" in journal(since)
    bad_config()
    out["doctor"] = sh("mpac-agent", "doctor")
    out["journal_tail"] = journal("-10min")[-6000:]


def bad_config() -> None:
    good = CONFIG.read_text()
    CONFIG.write_text(good + "\n[store]\nbogus_key = 1\n")
    sh("systemctl", "reset-failed", UNIT)
    since = time.strftime("%Y-%m-%d %H:%M:%S")
    time.sleep(1)
    sh("systemctl", "start", UNIT)
    wait(lambda: show("ActiveState")["ActiveState"] == "failed", 30)
    out["bad_config"] = show("ActiveState", "Result", "ExecMainStatus", "NRestarts")
    out["bad_config_status"] = sh("systemctl", "status", "--no-pager", "-n", "20", UNIT)
    out["bad_config_journal"] = journal(since)
    CONFIG.write_text(good)
    sh("systemctl", "reset-failed", UNIT)


def main() -> None:
    try:
        steps()
    except Exception as err:  # report, never hang the boot
        out["errors"].append(f"{err!r} at {traceback.format_exc()[-600:]}")
    finally:
        Path("/probe.json").write_text(json.dumps(out, indent=1))
        sh("systemctl", "poweroff", "--no-block")


if __name__ == "__main__":
    main()
