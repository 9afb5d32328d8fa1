"""agent.entrypoints.run: the drain guard refuses new sales with a cashier message, the watchdog pings only
while the database writer answers, and the settings follow the unit's directories."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from agent.adapters.store import AgentDatabase
from agent.adapters.systemd import Notifier
from agent.entrypoints.run import DRAINING_MESSAGE, Drain, watchdog_loop
from agent.settings import load_settings_under_systemd


class TestDrain:
    async def test_new_sale_refused_while_draining(self) -> None:
        """After begin(), a POST gets 503 with the cashier message and Retry-After; GETs still answer."""
        drain = Drain()
        app = web.Application(middlewares=[drain.middleware])
        app.router.add_post("/api/sales", _ok)
        app.router.add_get("/api/status", _ok)
        async with TestClient(TestServer(app)) as client:
            assert (await client.post("/api/sales", json={})).status == 200
            drain.begin()
            refused = await client.post("/api/sales", json={})
            body = await refused.json()
            assert refused.status == 503 and refused.headers["Retry-After"] == "5"
            assert body["error"]["code"] == "agent_stopping" and body["error"]["message"] == DRAINING_MESSAGE
            assert (await client.get("/api/status")).status == 200

    async def test_counts_requests_in_flight(self) -> None:
        """A request being handled is counted until its answer is ready, also once draining began."""
        drain, entered, release = Drain(), asyncio.Event(), asyncio.Event()

        async def slow(_request: web.Request) -> web.Response:
            entered.set()
            await release.wait()
            return web.json_response({})

        app = web.Application(middlewares=[drain.middleware])
        app.router.add_post("/api/sales", slow)
        async with TestClient(TestServer(app)) as client:
            pending = asyncio.create_task(client.post("/api/sales", json={}))
            await asyncio.wait_for(entered.wait(), 10)
            drain.begin()
            assert drain.in_flight == 1
            release.set()
            assert (await pending).status == 200  # the sale already in flight finishes
            assert drain.in_flight == 0


async def _ok(_request: web.Request) -> web.Response:
    return web.json_response({})


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[AgentDatabase]:
    db = await AgentDatabase.open(tmp_path / "agent.sqlite3")
    yield db
    await db.close()


def notify_pair(tmp_path: Path, interval_s: float) -> tuple[Notifier, socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.setblocking(False)
    env = {"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": str(int(interval_s * 2_000_000))}
    return Notifier.from_environ(env), sock


def pings(sock: socket.socket) -> int:
    count = 0
    while True:
        try:
            count += sock.recv(4096) == b"WATCHDOG=1"
        except BlockingIOError:
            return count


class TestWatchdog:
    async def test_pings_while_the_writer_answers(self, database: AgentDatabase, tmp_path: Path) -> None:
        """A healthy writer: WATCHDOG=1 about every half interval."""
        notifier, sock = notify_pair(tmp_path, 0.05)
        task = asyncio.create_task(watchdog_loop(_deps(database), notifier))
        await asyncio.sleep(0.6)
        task.cancel()
        assert pings(sock) >= 3
        sock.close()

    async def test_stuck_writer_means_no_ping(self, database: AgentDatabase, tmp_path: Path) -> None:
        """While a job blocks the writer thread, no WATCHDOG=1 is sent (systemd will restart the agent)."""
        notifier, sock = notify_pair(tmp_path, 0.05)
        unblock = threading.Event()

        def stuck(_conn: sqlite3.Connection) -> None:
            unblock.wait(30)

        blocker = asyncio.create_task(database.writer.run(stuck))
        await asyncio.sleep(0.1)
        task = asyncio.create_task(watchdog_loop(_deps(database), notifier))
        await asyncio.sleep(0.6)
        assert pings(sock) == 0
        unblock.set()
        await blocker
        await asyncio.sleep(0.3)
        task.cancel()
        assert pings(sock) >= 1  # the writer is back: so are the pings
        sock.close()


def _deps(database: AgentDatabase) -> Any:
    return SimpleNamespace(database=database)  # the watchdog only uses the database writer


class TestSettingsUnderSystemd:
    def test_state_directory_wins(self, tmp_path: Path) -> None:
        """$STATE_DIRECTORY (its first entry) replaces [agent] state_dir."""
        config = tmp_path / "agent.toml"
        config.write_text('[agent]\nstate_dir = "/elsewhere"\n', encoding="utf-8")
        settings = load_settings_under_systemd(config, {"STATE_DIRECTORY": "/var/lib/mpac-agent:/var/lib/x"})
        assert settings.agent.state_dir == Path("/var/lib/mpac-agent")

    def test_configuration_directory_file_is_read(self, tmp_path: Path) -> None:
        """With no file given, $CONFIGURATION_DIRECTORY/agent.toml is read."""
        (tmp_path / "agent.toml").write_text('[agent]\nserial = "T-42"\n', encoding="utf-8")
        settings = load_settings_under_systemd(None, {"CONFIGURATION_DIRECTORY": str(tmp_path)})
        assert settings.agent.serial == "T-42"

    def test_explicit_file_beats_configuration_directory(self, tmp_path: Path) -> None:
        """--config (or $MPAC_AGENT_CONFIG) is used over $CONFIGURATION_DIRECTORY."""
        (tmp_path / "agent.toml").write_text('[agent]\nserial = "T-42"\n', encoding="utf-8")
        chosen = tmp_path / "chosen.toml"
        chosen.write_text('[agent]\nserial = "T-7"\n', encoding="utf-8")
        settings = load_settings_under_systemd(chosen, {"CONFIGURATION_DIRECTORY": str(tmp_path)})
        assert settings.agent.serial == "T-7"

    def test_outside_systemd_the_defaults(self) -> None:
        """No unit variables: the packaged defaults."""
        assert load_settings_under_systemd(None, {}).agent.state_dir == Path("/var/lib/mpac-agent")


class TestWatchdogStops:
    async def test_cancel_always_ends_the_loop(self, database: AgentDatabase, tmp_path: Path) -> None:
        """Cancelled at any moment (also just as a probe completes), the loop ends: a stop never hangs."""
        notifier, sock = notify_pair(tmp_path, 0.002)
        for i in range(200):  # the 3.11 wait_for bug hit about 1 round in 20
            task = asyncio.create_task(watchdog_loop(_deps(database), notifier))
            await asyncio.sleep(0.001 * (i % 7))
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=5)
            assert done, f"watchdog loop ignored its cancellation (round {i})"
            pings(sock)
        sock.close()
