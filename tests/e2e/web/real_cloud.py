"""The REAL cloud for browser tests: `python -m cloud.cli serve --port 0` as a subprocess, provisioned with
`python -m cloud.cli admin …` and POST /v1/devices/activate, as a technician would. Synchronous (Playwright's
sync API owns the test thread's loop). The agent never imports cloud/; this only starts its process.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from sync.client import DeviceCredential
from sync.signing import authorization_header

READY_S = 30.0
_URL = re.compile(r"http://127\.0\.0\.1:(\d+)")


class RealCloudProcess:
    """One cloud process on a free loopback port; `stop()` sends SIGTERM and waits."""

    def __init__(self, folder: Path, *, simulator_routes: bool = False) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.simulator_routes = simulator_routes  # `--simulator-routes`: settle QR codes via /_simulator
        self.db = f"sqlite:///{folder / 'cloud.sqlite3'}"
        self.log = folder / "cloud.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> RealCloudProcess:
        """Start serve and wait for its ready line (the one with the URL)."""
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "cloud.cli",
                    "serve",
                    "--port",
                    "0",
                    "--db",
                    self.db,
                    *(["--simulator-routes"] if self.simulator_routes else []),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + READY_S
        while time.monotonic() < deadline:
            match = _URL.search(self.log.read_text(encoding="utf-8", errors="replace"))
            if match:
                self.url = f"http://127.0.0.1:{match.group(1)}"
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the cloud did not start; see {self.log}")

    def admin(self, *args: str) -> dict[str, Any]:
        """`mpac-pgw admin …` on this cloud's database → its JSON."""
        done = subprocess.run(
            [sys.executable, "-m", "cloud.cli", "admin", *args, "--db", self.db],
            capture_output=True,
            check=True,
            timeout=60,
        )
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    def provision(self, serial: str) -> DeviceCredential:
        """Partner → merchant → store (simulator provider) → activation code → activate a device."""
        partner = self.admin("partner", "create", "--name", "web-partner")
        merchant = self.admin(
            "merchant", "create", "--partner", partner["client_partner_id"], "--name", "web-m"
        )
        store = self.admin("store", "create", "--merchant", merchant["merchant_id"], "--code", "web-1")
        self.admin(
            "provider-config",
            "set",
            "--store",
            store["store_id"],
            "--provider",
            "simulator",
            "--credentials",
            "{}",
        )
        code = self.admin("activation-code", "--store", store["store_id"])["activation_code"]
        body = json.dumps({"code": code, "serial_number": serial, "model": "web-test"}).encode()
        req = urllib.request.Request(  # noqa: S310 -- loopback URL we built
            self.url + "/v1/devices/activate",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 -- loopback URL we built
            got = json.loads(resp.read())
        return DeviceCredential(got["device_id"], got["api_key"], got["secret_key"])

    def intent(self, cred: DeviceCredential, intent_id: str) -> dict[str, Any]:
        """The intent as the cloud reports it (signed GET)."""
        path = f"/v1/payment_intents/{intent_id}"
        auth = authorization_header(cred.api_key, cred.secret_key, "GET", path, int(time.time()), b"")
        req = urllib.request.Request(self.url + path, headers={"Authorization": auth})  # noqa: S310
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 -- loopback URL we built
            result: dict[str, Any] = json.loads(resp.read())
            return result

    def stop(self) -> None:
        """SIGTERM, then wait."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
