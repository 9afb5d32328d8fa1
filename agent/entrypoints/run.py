"""`mpac-agent run`: the process lifecycle under systemd (docs/operations.md, "Under systemd").

Start: open the dependencies (database, queue), start the web port, then READY=1. While running: WATCHDOG=1 at
half the watchdog interval, but only after the database writer answered a probe (a stuck writer means no ping,
so systemd restarts the agent), and a one-line STATUS=. On the first SIGTERM/SIGINT: STOPPING=1, new sales get
503 with a message for the cashier, requests in flight and the receipt being printed finish, a sync pass in
flight gets a short bound, then everything closes (every queued write is committed) and the process exits 0.
A second signal skips the waiting; a committed sale is never lost either way (it is still queued at the next
start).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from agent.adapters.devices.printer import PrinterService
from agent.adapters.store.outbox import read_sync_status
from agent.adapters.systemd import Notifier
from agent.deps import Deps
from agent.entrypoints.api.errors import Handler, error_json
from agent.settings import Settings

log = logging.getLogger(__name__)
DRAIN_S = 10.0  # requests in flight and the receipt being printed
SYNC_GRACE_S = 3.0  # a sync pass in flight
SHUTDOWN_S = 5.0  # aiohttp's own wait for handlers once the port is closed
STATUS_EVERY_S = 5.0
TASK_STOP_S = 2.0
DRAIN_POLL_S = 0.05
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DRAINING_MESSAGE = ("This terminal is restarting; no sale was recorded. Please try again in a few seconds.")


class Drain:
    """Counts requests in flight; once `begin()` was called, refuses every new change with a 503."""

    def __init__(self) -> None:
        self.draining = False
        self.in_flight = 0

    def begin(self) -> None:
        """From now on a new sale (any state-changing request) is refused."""
        self.draining = True

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """The drain guard of the local web."""
        if self.draining and request.method in _WRITES:
            return error_json(503, "api_error", "agent_stopping", DRAINING_MESSAGE,
                              headers={"Retry-After": "5"})
        self.in_flight += 1
        try:
            return await handler(request)
        finally:
            self.in_flight -= 1


async def serve(settings: Settings, announce: Callable[[str], None], credentials_dir: Path | None,
                notifier: Notifier) -> None:
    """Run the agent until SIGTERM or SIGINT, then drain and close everything cleanly."""
    from agent.bootstrap import create_app, open_deps  # noqa: PLC0415 -- deferred so --help stays fast

    async with open_deps(settings, credentials_dir=credentials_dir) as deps:
        drain = Drain()
        app = create_app(settings, deps)
        app.middlewares.append(drain.middleware)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=SHUTDOWN_S)
        await runner.setup()
        try:
            await _serve_until_stopped(runner, deps, drain, notifier, announce)
        finally:
            await runner.cleanup()
    log.info("stopped cleanly")


async def _serve_until_stopped(runner: web.AppRunner, deps: Deps, drain: Drain, notifier: Notifier,
                               announce: Callable[[str], None]) -> None:
    site = web.TCPSite(runner, deps.settings.web.host, deps.settings.web.port)
    await site.start()
    host, port = runner.addresses[0][:2]
    signals = _Signals()
    started = time.monotonic()
    notifier.ready(await status_line(deps))
    announce(f"mpac-agent ready on http://{host}:{port}")
    log.info("ready on http://%s:%s", host, port)
    tasks = [asyncio.create_task(_status_loop(deps, notifier), name="sd-status")]
    if notifier.watchdog_interval_s is not None:
        tasks.append(asyncio.create_task(watchdog_loop(deps, notifier), name="sd-watchdog"))
    try:
        await signals.first.wait()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=TASK_STOP_S)  # bounded: a stop must never wait on a ping
    log.info("stopping after %.0f s up: refusing new sales, finishing the current ones",
             time.monotonic() - started)
    notifier.stopping("stopping: finishing the current sale and receipt, refusing new ones")
    drain.begin()
    await _drain(deps, drain, signals.second)


class _Signals:
    """The first SIGTERM/SIGINT starts the drain; a second one cuts the waiting short."""

    def __init__(self) -> None:
        self.first, self.second = asyncio.Event(), asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal)

    def _on_signal(self) -> None:
        if self.first.is_set():
            log.warning("second stop signal: not waiting any longer (committed sales stay queued)")
            self.second.set()
        self.first.set()


async def _drain(deps: Deps, drain: Drain, hurry: asyncio.Event) -> None:
    """Wait, within bounds, for requests in flight, the receipt being printed and a sync pass in flight."""
    printer = deps.devices.printer if isinstance(deps.devices.printer, PrinterService) else None

    async def busy() -> bool:
        if drain.in_flight:
            return True
        return printer is not None and bool(await printer.queue.jobs(1, ("printing",)))

    if not await _wait_while(busy, DRAIN_S, hurry):
        log.warning("drain: requests or a receipt still in flight after %.0f s; closing anyway", DRAIN_S)
    uploader = deps.sync.uploader if deps.sync is not None else None
    if uploader is not None:

        async def syncing() -> bool:
            return uploader.state.running

        if not await _wait_while(syncing, SYNC_GRACE_S, hurry):
            log.warning("drain: sync pass still in flight after %.0f s; its sales stay queued", SYNC_GRACE_S)


async def _wait_while(condition: Callable[[], Awaitable[bool]], bound_s: float, hurry: asyncio.Event) -> bool:
    """Poll `await condition()` until it is false (True), the bound passes or `hurry` is set (False)."""
    deadline = time.monotonic() + bound_s
    while await condition():
        if hurry.is_set() or time.monotonic() >= deadline:
            return False
        await asyncio.sleep(DRAIN_POLL_S)
    return True


class WriterProbe:
    """Asks the database writer to run a trivial job; at most one such job is queued at a time."""

    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        self._job: asyncio.Future[None] | None = None

    async def healthy(self, timeout_s: float) -> bool:
        """True when the writer ran the probe within `timeout_s` (it is neither stuck nor dead)."""
        if self._job is None:
            self._job = asyncio.ensure_future(self._deps.database.writer.run(_probe))
        # asyncio.wait, not wait_for: on 3.11 wait_for can swallow a cancellation (the agent would not stop).
        done, _ = await asyncio.wait({self._job}, timeout=timeout_s)
        if not done:  # still queued or running: leave it, and do not pile another probe behind it
            log.error("database writer did not answer within %.1f s; no watchdog ping", timeout_s)
            return False
        job, self._job = self._job, None
        if job.cancelled() or job.exception() is not None:
            log.error("database writer failed a probe; withholding the watchdog ping")
            return False
        return True

    def close(self) -> None:
        """Drop a probe still waiting for the writer."""
        if self._job is not None:
            self._job.cancel()
            self._job = None


def _probe(conn: sqlite3.Connection) -> None:
    del conn  # reaching the writer thread and committing the empty batch is the check


async def watchdog_loop(deps: Deps, notifier: Notifier) -> None:
    """WATCHDOG=1 every half interval while the event loop runs and the writer answers."""
    interval = notifier.watchdog_interval_s
    assert interval is not None
    probe = WriterProbe(deps)
    try:
        while True:
            started = time.monotonic()
            if await probe.healthy(interval):
                notifier.watchdog()
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))
    finally:
        probe.close()


async def status_line(deps: Deps) -> str:
    """One line for `systemctl status`: online/offline/not enrolled and the pending sales."""
    try:
        sync = await read_sync_status(deps.database.reader)
    except Exception as err:  # a status line is best effort; the watchdog reports real trouble
        return f"running; sync status unreadable ({type(err).__name__})"
    pending = sync.get("pending_count", 0)
    if deps.credentials is None:
        link = "not enrolled"
    else:
        connected = sync.get("connected")
        link = "cloud not yet contacted" if connected is None else "online" if connected else "offline"
    return f"{link}; {pending} sale{'s' if pending != 1 else ''} pending sync"


async def _status_loop(deps: Deps, notifier: Notifier) -> None:
    last = ""
    while True:
        await asyncio.sleep(STATUS_EVERY_S)
        line = await status_line(deps)
        if line != last:
            with contextlib.suppress(OSError):
                notifier.status(line)
            last = line
