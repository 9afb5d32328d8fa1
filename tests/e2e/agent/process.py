"""Start `mpac-agent run` as a real process for tests: config file, ready line, JSON calls, SIGKILL/SIGTERM.

Reusable: `AgentProcess.start(tmp_path / "agent", overrides)` writes a TOML config (state under that folder,
port 0, cloud URL at a closed loopback port unless overridden), waits for the one "ready on URL" line and
returns the running process. `call()` speaks JSON; `kill()` is SIGKILL, `stop()` SIGTERM and wait.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
READY_TIMEOUT_S = 30.0


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def write_config(path: Path, table: dict[str, dict[str, Any]]) -> Path:
    """Write a flat two-level TOML file ([section] key = value)."""
    lines = []
    for section, values in table.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {_toml_value(v)}" for key, v in values.items())
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def agent_config(
    folder: Path, overrides: dict[str, dict[str, Any]] | None = None
) -> dict[str, dict[str, Any]]:
    """The test defaults: state under `folder`, port 0, an unreachable cloud, no sweep noise."""
    table: dict[str, dict[str, Any]] = {
        "agent": {"state_dir": str(folder / "state"), "serial": "E2E-1", "expiry_interval_s": 3600},
        "web": {"host": "127.0.0.1", "port": 0},
        "cloud": {"url": f"http://127.0.0.1:{closed_port()}", "timeout_s": 2.0},
    }
    for key, value in (overrides or {}).items():
        table[key] = {**table.get(key, {}), **value}
    return table


class AgentProcess:
    """One `python -m agent.entrypoints.cli run --config FILE` process."""

    def __init__(self, proc: subprocess.Popen[str], url: str, config: Path, log: Path) -> None:
        self.proc, self.url, self.config, self.log = proc, url, config, log

    @classmethod
    def start(
        cls,
        folder: Path,
        overrides: dict[str, dict[str, Any]] | None = None,
        *,
        config: Path | None = None,
        wrapper: tuple[str, ...] = (),
    ) -> AgentProcess:
        """Write the config (unless given), start the agent, wait for its ready line.

        `wrapper` prefixes the command (e.g. setpriv to drop capabilities).
        """
        folder.mkdir(parents=True, exist_ok=True)
        if config is None:
            config = write_config(folder / "agent.toml", agent_config(folder, overrides))
        env = {k: v for k, v in os.environ.items() if k not in ("MPAC_AGENT_CONFIG", "CREDENTIALS_DIRECTORY")}
        env["PYTHONPATH"] = str(REPO)
        log = folder / "agent.log"
        with log.open("a", encoding="utf-8") as log_file:  # a file, not a pipe: logging can never block
            proc = subprocess.Popen(  # our own CLI, fixed arguments
                [*wrapper, sys.executable, "-m", "agent.entrypoints.cli", "run", "--config", str(config)],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=log_file,
                text=True,
            )
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the agent prints exactly one line when ready
        if not line.startswith("mpac-agent ready on "):
            proc.kill()
            proc.wait(timeout=READY_TIMEOUT_S)
            raise RuntimeError(f"agent did not start: {line!r} {log.read_text(encoding='utf-8')[-2000:]}")
        return cls(proc, line.split()[-1], config, log)

    def call(self, method: str, path: str, body: Any = None, timeout: float = 10.0) -> tuple[int, Any]:
        """One JSON request: (status, parsed body)."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(  # noqa: S310 -- a loopback http URL we built
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 -- loopback URL
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    def kill(self) -> None:
        """SIGKILL, no chance to clean up."""
        self.proc.kill()
        self.proc.wait(timeout=10)
        self._close_pipes()

    def stop(self) -> int:
        """SIGTERM, wait for the exit code."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            code = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(timeout=5)
        self._close_pipes()
        return code

    def log_text(self) -> str:
        """What the agent logged to stderr so far."""
        return self.log.read_text(encoding="utf-8")

    def _close_pipes(self) -> None:
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def wait_until(predicate: Any, timeout: float = 10.0) -> bool:
    """Poll `predicate()` until true or the time is up (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False
