"""A real agent (bootstrap.build_app over a temp-file SQLite store) served by AppRunner in its own thread.

The Playwright `page` fixture owns the main thread's event loop, so the agent gets its own loop in a thread
(ci-recipes.md). It binds 127.0.0.1 port 0. Not enrolled by default; `enrolled=True` writes the enrollment
record through the real SecretStore (credential encrypted, admin password hashed) before start, pointing at
the fake cloud when one is given, else at a closed loopback port (offline).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from agent.adapters.secrets import EnrolledDevice, SecretStore, hash_password
from agent.bootstrap import build_app
from agent.settings import load_settings
from drivers.simulators.cardreader import CardReaderSimulator
from drivers.simulators.printer import PrinterSimulator
from drivers.simulators.scanner import ScannerSimulator
from sync.client import DeviceCredential
from tests.e2e.web.fake_cloud import FakeCloud

ADMIN_PASSWORD = "Adm1n-Test-Pass"
HOLD_AFTER_S = 0.5
T = TypeVar("T")


def closed_port() -> int:
    """A loopback port nobody listens on (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


class AgentThread:
    """Start with `start()`, stop with `stop()`; `url` is the agent's base URL."""

    def __init__(self, state_dir: Path, overrides: dict[str, Any] | None = None, *, enrolled: bool = False,
                 cloud: FakeCloud | None = None, printer: PrinterSimulator | None = None,
                 card_reader: CardReaderSimulator | None = None, scanner: ScannerSimulator | None = None,
                 real_cloud: tuple[str, DeviceCredential] | None = None,
                 hold_after_s: float = HOLD_AFTER_S) -> None:
        self.enrolled, self.cloud, self.printer, self.card_reader = enrolled, cloud, printer, card_reader
        self.scanner, self.real_cloud = scanner, real_cloud  # real_cloud: (URL, device credential)
        self.hold_after_s = hold_after_s  # how long a receipt waits for the printer before it is held
        table: dict[str, Any] = {
            "agent": {"state_dir": str(state_dir), "serial": "WEB-TEST-1", "expiry_interval_s": 3600},
            "web": {"port": 0},
            "cloud": {"url": f"http://127.0.0.1:{closed_port()}", "timeout_s": 1.0},
            "store": {"name": "テスト店 Test Store", "currencies": ["JPY"]},
        }
        for key, value in (overrides or {}).items():
            table[key] = {**table.get(key, {}), **value}
        self._table = table
        self.settings = load_settings(overrides=table)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="agent-under-test", daemon=True)
        self._runners: list[web.AppRunner] = []
        self.url = ""

    def start(self) -> AgentThread:
        """Build the app and serve it; returns once the port is bound."""
        self._thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self._serve(), self.loop).result(timeout=30)
        return self

    async def _listen(self, app: web.Application) -> str:
        runner = web.AppRunner(app)
        await runner.setup()
        self._runners.append(runner)
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        return f"http://{host}:{port}"

    async def _serve(self) -> str:
        devices: dict[str, Any] = {"reopen_max_s": 0.2}
        folder = self.settings.agent.state_dir.parent
        if self.printer is not None:  # the simulators' ptys are served by this loop
            path = self.printer.start_pty(folder / "printer-by-id")
            devices["printer"] = {"transport": "serial", "path": path,
                                  "debounce_s": 0.3, "status_poll_s": 0.1, "hold_after_s": self.hold_after_s}
        if self.card_reader is not None:
            devices["card_reader"] = {"path": self.card_reader.start_pty(folder / "reader-by-id"),
                                      "ack_timeout_s": 0.2, "retries": 2, "result_timeout_s": 5}
        if self.scanner is not None:
            scanner_path = self.scanner.start_pty(folder / "scanner-by-id")
            devices["scanner"] = {"transport": "serial", "path": scanner_path}
        if len(devices) > 1:
            self._table["devices"] = devices
            self.settings = load_settings(overrides=self._table)
        cloud_url = await self._listen(self.cloud.app()) if self.cloud else self.settings.cloud.url
        cred = DeviceCredential("dev_web_1", "pk_test_web", "sk_test_web")
        if self.real_cloud is not None:
            cloud_url, cred = self.real_cloud
        if self.enrolled:
            SecretStore(self.settings.agent.state_dir).save(EnrolledDevice(
                device_id=cred.device_id, api_key=cred.api_key, secret_key=cred.secret_key,
                merchant_id="m_1", store_id="s_1", cloud_url=cloud_url, serial_number="WEB-TEST-1",
                model="test", enrolled_at=1, admin_password_hash=hash_password(ADMIN_PASSWORD)))
        return await self._listen(await build_app(self.settings))

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the agent's loop (simulators live there) and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def stop(self) -> None:
        """Clean up the apps (closes the store), then stop the loop and the thread."""
        for runner in reversed(self._runners):
            self.run(runner.cleanup())
        for sim in (self.printer, self.card_reader, self.scanner):
            if sim is not None:
                self.run(sim.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One JSON request to the agent (from the test thread): (status, parsed body)."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(self.url + path, data=data, method=method,  # noqa: S310 -- loopback http
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 -- loopback URL we built
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())
