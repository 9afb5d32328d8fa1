"""A real agent (bootstrap.build_app over a temp-file SQLite store) served by AppRunner in its own thread.

The Playwright `page` fixture owns the main thread's event loop, so the agent gets its own loop in a thread
(ci-recipes.md). It binds 127.0.0.1 port 0; the cloud URL points at a closed loopback port (offline).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from aiohttp import web

from agent.bootstrap import build_app
from agent.settings import load_settings


def closed_port() -> int:
    """A loopback port nobody listens on (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


class AgentThread:
    """Start with `start()`, stop with `stop()`; `url` is the agent's base URL."""

    def __init__(self, state_dir: Path, overrides: dict[str, Any] | None = None) -> None:
        table: dict[str, Any] = {
            "agent": {"state_dir": str(state_dir), "serial": "WEB-TEST-1", "expiry_interval_s": 3600},
            "web": {"port": 0},
            "cloud": {"url": f"http://127.0.0.1:{closed_port()}", "timeout_s": 1.0},
            "store": {"name": "テスト店 Test Store", "currencies": ["JPY"]},
        }
        for key, value in (overrides or {}).items():
            table[key] = {**table.get(key, {}), **value}
        self.settings = load_settings(overrides=table)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="agent-under-test", daemon=True)
        self._runner: web.AppRunner | None = None
        self.url = ""

    def start(self) -> AgentThread:
        """Build the app and serve it; returns once the port is bound."""
        self._thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self._serve(), self.loop).result(timeout=30)
        return self

    async def _serve(self) -> str:
        self._runner = web.AppRunner(build_app(self.settings))
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        """Clean up the app (closes the store), then stop the loop and the thread."""
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One JSON request to the agent (from the test thread): (status, parsed body)."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 -- loopback URL we built
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())
