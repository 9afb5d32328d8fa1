"""`mpac-agent run` against a NOTIFY_SOCKET the test owns: READY only once the port is open, WATCHDOG at half
the interval, STATUS, STOPPING on SIGTERM, a clean exit; a bad config names its key in STATUS and exits 2."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.agent.process import REPO, agent_config, closed_port, write_config

CASH = {"amount": 1200, "currency": "JPY", "payment_method": "cash", "cash_received": 2000}
BOUND_S = 30.0  # generous: the machine is shared


class NotifySocket:
    """A unix datagram socket standing in for systemd's notification socket."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.messages: list[dict[str, str]] = []

    def wait_for(self, key: str, value: str | None = None, bound_s: float = BOUND_S,
                 contains: str = "") -> dict[str, str]:
        """The next datagram with `key` (=`value`, holding `contains`), collecting all seen on the way."""
        deadline = time.monotonic() + bound_s
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                raw = self.sock.recv(4096)
            except TimeoutError:
                break
            fields = dict(line.split("=", 1) for line in raw.decode().splitlines() if "=" in line)
            self.messages.append(fields)
            if key in fields and (value is None or fields[key] == value) and contains in fields[key]:
                return fields
        raise AssertionError(f"no {key}={value} within {bound_s} s; got {self.messages}")


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifySocket]:
    sock = NotifySocket(tmp_path / "notify.sock")
    yield sock
    sock.sock.close()


def start_agent(folder: Path, notify: NotifySocket, port: int, *, watchdog_usec: int | None = 1_000_000,
                overrides: dict[str, dict[str, Any]] | None = None,
                wrapper: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    table = agent_config(folder, {"web": {"port": port}, **(overrides or {})})
    config = write_config(folder / "agent.toml", table)
    env = {k: v for k, v in os.environ.items()
           if k not in ("MPAC_AGENT_CONFIG", "CREDENTIALS_DIRECTORY", "STATE_DIRECTORY", "JOURNAL_STREAM")}
    env.update(PYTHONPATH=str(REPO), NOTIFY_SOCKET=str(notify.path))
    if watchdog_usec is not None:
        env["WATCHDOG_USEC"] = str(watchdog_usec)
    log = (folder / "agent.log").open("ab")
    command = [*wrapper, sys.executable, "-m", "agent.entrypoints.cli", "run", "--config", str(config)]
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=log)


def post(port: int, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/sales", data=json.dumps(body).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 -- loopback URL we built
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=BOUND_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        raise


class TestNotifyLifecycle:
    def test_ready_watchdog_status_stopping(self, tmp_path: Path, notify: NotifySocket) -> None:
        """READY=1 comes once the port answers; WATCHDOG=1 repeats; SIGTERM gives STOPPING=1 and exit 0."""
        port = closed_port()
        proc = start_agent(tmp_path / "agent", notify, port)
        try:
            ready = notify.wait_for("READY", "1")
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                pass  # READY=1 only after the web port is open
            assert "pending" in ready["STATUS"] and ready["MAINPID"] == str(proc.pid)
            for _ in range(3):
                notify.wait_for("WATCHDOG", "1", bound_s=10)
            status, body = post(port, {**CASH, "merchant_ref_id": "notify-1"})
            assert status == 201, body
            proc.send_signal(signal.SIGTERM)
            stopping = notify.wait_for("STOPPING", "1")
            assert "stopping" in stopping["STATUS"]
            assert proc.wait(timeout=BOUND_S) == 0
        finally:
            stop(proc)
        log = (tmp_path / "agent" / "agent.log").read_text(encoding="utf-8")
        assert "stopped cleanly" in log

    def test_no_watchdog_when_not_asked(self, tmp_path: Path, notify: NotifySocket) -> None:
        """Without WATCHDOG_USEC the agent never sends WATCHDOG=1 (systemd did not ask for it)."""
        proc = start_agent(tmp_path / "agent", notify, closed_port(), watchdog_usec=None)
        try:
            notify.wait_for("READY", "1")
            with pytest.raises(AssertionError):
                notify.wait_for("WATCHDOG", "1", bound_s=2)
        finally:
            assert stop(proc) == 0

    def test_bad_config_names_the_key_in_status(self, tmp_path: Path, notify: NotifySocket) -> None:
        """An unknown key: no READY, STATUS= names the key, exit 2, one stderr line and no traceback."""
        folder = tmp_path / "agent"
        proc = start_agent(folder, notify, closed_port(), overrides={"agent": {"serail": "T-1"}})
        assert proc.wait(timeout=BOUND_S) == 2
        status = notify.wait_for("STATUS")
        assert "agent.serail" in status["STATUS"] and "READY" not in status
        log = (folder / "agent.log").read_text(encoding="utf-8")
        assert "agent.serail" in log and "Traceback" not in log

    def test_read_only_state_dir_is_a_clear_error(self, tmp_path: Path, notify: NotifySocket) -> None:
        """A read-only state directory: exit 1, STATUS and stderr say so, the database is untouched."""
        if os.geteuid() != 0 or shutil.which("unshare") is None:
            pytest.skip("needs root and unshare for a private read-only bind mount")
        folder = tmp_path / "agent"
        proc = start_agent(folder, notify, closed_port())  # first start creates the database
        notify.wait_for("READY", "1")
        assert stop(proc) == 0
        state = folder / "state"
        before = {p.name: p.read_bytes() for p in state.iterdir()}
        script = f"mount --bind -o ro {state} {state} && exec \"$@\""
        wrapper = ("unshare", "--mount", "sh", "-c", script, "sh")
        proc = start_agent(folder, notify, closed_port(), wrapper=wrapper)
        assert proc.wait(timeout=BOUND_S) == 1
        status = notify.wait_for("STATUS", contains="cannot be saved")
        assert "read-only" in status["STATUS"] and "READY" not in status
        assert {p.name: p.read_bytes() for p in state.iterdir()} == before
        assert "Traceback" not in (folder / "agent.log").read_text(encoding="utf-8")

    def test_second_sigterm_keeps_committed_sales(self, tmp_path: Path, notify: NotifySocket) -> None:
        """Two SIGTERMs at once (stop, then an impatient kill): every answered sale is there afterwards."""
        folder, port = tmp_path / "agent", closed_port()
        proc = start_agent(folder, notify, port)
        notify.wait_for("READY", "1")
        answered = [post(port, {**CASH, "merchant_ref_id": f"twice-{i}"}) for i in range(5)]
        assert all(status == 201 for status, _ in answered), answered
        proc.send_signal(signal.SIGTERM)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=BOUND_S) == 0
        proc = start_agent(folder, notify, port)
        try:
            notify.wait_for("READY", "1")
            for _, body in answered:
                req = urllib.request.Request(f"http://127.0.0.1:{port}/api/sales/{body['local_id']}")
                with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 -- loopback URL we built
                    assert json.loads(resp.read())["local_id"] == body["local_id"]
        finally:
            assert stop(proc) == 0
