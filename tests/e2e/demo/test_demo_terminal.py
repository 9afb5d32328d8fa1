"""`mpac-agent demo` with and without a terminal: Ctrl-C on a real pseudo-terminal stops it at once, the
simulators can be driven either way (typed, or `mpac-agent demo-control`), and the banner's signed API call
gets a 201 from the demo's cloud."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import shlex
import signal
import subprocess
import sys
import termios
import time
import urllib.request
from pathlib import Path
from typing import IO, Any

import pytest

from tests.e2e.demo.test_demo import READY

EXIT_BOUND_S = 3.0


def _demo(state: Path, stdin: int) -> subprocess.Popen[bytes]:
    """The demo with `stdin`; when that is a pty it becomes the demo's controlling terminal, as in a shell."""
    argv = [sys.executable, "-m", "agent", "demo", "--state-dir", str(state), "--cloud-port", "0",
            "--agent-port", "0"]
    interactive = os.isatty(stdin)

    def controlling_tty() -> None:  # runs in the child after setsid(): the pty becomes its terminal
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    return subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True,
                            preexec_fn=controlling_tty if interactive else None)  # noqa: PLW1509 -- one ioctl


def _read_until(out: IO[bytes], pattern: re.Pattern[str], seen: list[str],
                timeout_s: float = 60) -> re.Match[str]:
    """Read the demo's output (bounded) until `pattern` matches the text so far."""
    deadline = time.monotonic() + timeout_s
    fd = out.fileno()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            seen.append(chunk.decode(errors="replace"))
        match = pattern.search("".join(seen))
        if match:
            return match
    pytest.fail(f"demo did not print {pattern.pattern!r}:\n{''.join(seen)}")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def _cash_sale(agent: str) -> dict[str, Any]:
    body = json.dumps({"amount": 800, "payment_method": "cash", "cash_received": 1000}).encode()
    req = urllib.request.Request(f"{agent}/api/sales", body,  # noqa: S310 -- loopback URL printed by the demo
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 -- loopback URL printed by the demo
        result: dict[str, Any] = json.loads(resp.read())
        return result


class TestWithATerminal:
    def test_ctrl_c_stops_the_demo_at_once(self, tmp_path: Path) -> None:
        """^C typed on the demo's terminal (SIGINT to its process group) ends it within 3 s; typing works."""
        master, slave = pty.openpty()
        proc = _demo(tmp_path / "demo", slave)
        os.close(slave)
        seen: list[str] = []
        try:
            assert proc.stdout is not None
            _read_until(proc.stdout, re.compile(r"Type here: .*\n.*'quit'"), seen)
            assert "demo-control" in "".join(seen)  # the other way is named too
            os.write(master, b"paper out\n")
            _read_until(proc.stdout, re.compile(r"printer: paper out"), seen)
            os.write(master, b"\x03")  # the line discipline (ISIG) turns it into SIGINT, as a keyboard does
            started = time.monotonic()
            try:
                proc.wait(timeout=EXIT_BOUND_S)
            except subprocess.TimeoutExpired:
                pytest.fail(f"demo still running {EXIT_BOUND_S} s after Ctrl-C:\n{''.join(seen)}")
            assert time.monotonic() - started < EXIT_BOUND_S
        finally:
            _kill_group(proc)
            os.close(master)
        assert not (tmp_path / "demo" / "control.json").exists()


class TestWithoutATerminal:
    def test_banner_points_to_demo_control_and_the_signed_call_gets_201(self, tmp_path: Path) -> None:
        """No tty: no "Type here"; demo-control drives the simulators; the printed call creates (201)."""
        state = tmp_path / "demo"
        proc = _demo(state, subprocess.DEVNULL)
        seen: list[str] = []
        try:
            assert proc.stdout is not None
            agent = _read_until(proc.stdout, READY, seen).group(1)
            match = _read_until(proc.stdout, re.compile(r"Signed call    : (.+)\n"), seen)
            _read_until(proc.stdout, re.compile(r"demo-control --state-dir \S+ scan CODE \| decline"), seen)
            text = "".join(seen)
            assert "Type here" not in text
            control = [sys.executable, "-m", "agent", "demo-control", "--state-dir", str(state)]

            done = _cli(*control, "paper-out")
            assert (done.returncode, done.stdout.strip()) == (0, "printer: paper out"), done.stderr
            assert _cli(*control, "paper-in").returncode == 0
            assert _cli(*control, "decline").stdout.strip() == "the next card will be declined"
            assert _cli(*control, "scan", "4900000000003").stdout.strip() == "scanned 4900000000003"
            _cash_sale(agent)
            done = _cli(*control, "receipt")
            assert done.returncode == 0 and (state / "paper.png").exists(), done.stderr

            argv = shlex.split(match.group(1))
            created = _cli(*argv)
            assert created.returncode == 0 and "HTTP 201" in created.stderr, created.stderr
            intent = json.loads(created.stdout)
            assert intent["id"].startswith("pi_") and intent["merchant_ref_id"].startswith("demo-")
            key_args = argv[:argv.index("POST")]
            confirmed = _cli(*key_args, "POST", f"/v1/payment_intents/{intent['id']}/confirm", "{}")
            assert confirmed.returncode == 0, confirmed.stderr
            assert json.loads(confirmed.stdout)["status"] == "requires_action"
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            finally:
                _kill_group(proc)
        done = _cli(sys.executable, "-m", "agent", "demo-control", "--state-dir", str(state), "decline")
        assert done.returncode == 1 and "no running demo" in done.stderr
