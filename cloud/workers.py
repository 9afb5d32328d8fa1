"""`mpac-pgw serve --workers N`: N worker processes on one port (docs/operations.md#workers).

Every worker binds the same address with SO_REUSEPORT, so the kernel spreads new connections over them; the
supervisor (this module, in the process that was started) holds the port reserved with a bound, never
listening socket of the same group, which is how `--port 0` becomes one port all workers share. Workers are
forked from the supervisor, which never starts a thread or an event loop, so a fork is a clean copy.

Worker 1 starts first and the others only once it is ready: it applies the migrations and creates the
encryption key file (if one is used), so that N processes never race to do either. A worker that dies is
started again with the same id, at most MAX_RESTARTS times per RESTART_WINDOW; SIGTERM or SIGINT to the
supervisor stops every worker cleanly (SIGTERM, then SIGKILL after STOP_SECONDS); a worker whose supervisor
was killed outright stops itself within ORPHAN_POLL_SECONDS.
"""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from cloud.domain.errors import DomainError
from cloud.settings import Settings, SettingsError

MAX_RESTARTS = 5
RESTART_WINDOW = 60.0
READY_SECONDS = 60.0
ORPHAN_POLL_SECONDS = 1.0
STOP_SECONDS = 70.0  # past aiohttp's default shutdown timeout (60 s) for requests in flight
_STOP = {signal.SIGTERM, signal.SIGINT}
_WATCHED = _STOP | {signal.SIGCHLD}

# Runs one serving process until it is stopped; calls its second argument with the ready line.
Serve = Callable[[Settings, Callable[[str], None]], None]


class _Stopped(Exception):
    """SIGTERM or SIGINT arrived while the workers were starting."""


@dataclass
class _Worker:
    """One worker slot: its stable id, and the process that fills it now."""

    worker_id: int
    process: BaseProcess | None = None
    ready: Connection | None = None
    served: bool = False  # the current process got as far as listening


@dataclass
class Supervisor:
    """Starts, watches, restarts and stops the workers of one `serve --workers N`."""

    settings: Settings
    serve: Serve
    workers: list[_Worker] = field(default_factory=list)
    restarts: deque[float] = field(default_factory=deque)
    ready_line: str = ""

    def __post_init__(self) -> None:
        self._ctx = multiprocessing.get_context("fork")
        self.workers = [_Worker(k) for k in range(1, self.settings.workers + 1)]

    def run(self) -> int:
        """Serve until a stop signal (exit 0), a worker that fails to start, or too many restarts."""
        reserved = reserve_port(self.settings.host, self.settings.port)
        port = reserved.getsockname()[1]
        self.settings = self.settings.with_changes(port=port)
        signal.pthread_sigmask(signal.SIG_BLOCK, _WATCHED)
        try:
            code = self._start_all()
            if code is not None:
                return code
            print(self.ready_line, flush=True)  # the workers' own "listening on URL" line, once
            return self._watch()
        except _Stopped:
            return 0
        finally:
            self._stop_all()
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _WATCHED)
            reserved.close()

    def _start_all(self) -> int | None:
        """Worker 1 first (migrations, key file), then the rest together; an exit code if one failed."""
        first, rest = self.workers[0], self.workers[1:]
        for group in ([first], rest):
            for worker in group:
                self._spawn(worker)
            for worker in group:
                code = self._await_ready(worker)
                if code is not None:
                    return code
        return None

    def _spawn(self, worker: _Worker) -> None:
        worker.served = False
        receive, send = self._ctx.Pipe(duplex=False)
        settings = self.settings.with_changes(worker_id=worker.worker_id)
        worker.process = self._ctx.Process(target=_worker_main, args=(settings, self.serve, send),
                                           name=f"mpac-pgw-worker-{worker.worker_id}")  # fmt: skip
        worker.process.start()
        send.close()
        print(f"mpac-pgw: worker {worker.worker_id} started (pid {worker.process.pid})", file=sys.stderr,
              flush=True)  # fmt: skip
        worker.ready = receive

    def _await_ready(self, worker: _Worker) -> int | None:
        """Wait for the worker's ready message; its exit code if it died first (None: it is ready)."""
        assert worker.process is not None and worker.ready is not None
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if signal.sigtimedwait(_STOP, 0) is not None:
                raise _Stopped
            if multiprocessing.connection.wait([worker.ready, worker.process.sentinel], timeout=0.2):
                break
        else:  # neither ready nor dead: stuck (e.g. a database that never answers)
            worker.process.kill()
        try:
            self.ready_line = worker.ready.recv()
            worker.served = True
            return None
        except (EOFError, OSError):
            worker.process.join(timeout=5)
            code = worker.process.exitcode
            print(f"mpac-pgw: worker {worker.worker_id} did not start (exit code {code})", file=sys.stderr)
            return code if code and code > 0 else 1
        finally:
            worker.ready.close()
            worker.ready = None

    def _watch(self) -> int:
        """Block on signals; restart a worker that died, within the budget."""
        while True:
            got = signal.sigtimedwait(_WATCHED, 1.0)
            if got is not None and got.si_signo in _STOP:
                return 0
            for worker in self.workers:
                process = worker.process
                if process is None or process.exitcode is None:
                    continue
                # A worker that served and then exited 0 was stopped on purpose (a rolling restart: SIGTERM to
                # its pid); only crashes and failed starts use up the restart budget.
                deliberate = process.exitcode == 0 and worker.served
                if not deliberate and not self._may_restart():
                    print(f"mpac-pgw: worker {worker.worker_id} exited ({process.exitcode}) and "
                          f"{MAX_RESTARTS} restarts in {RESTART_WINDOW:.0f} s are used up; stopping",
                          file=sys.stderr, flush=True)  # fmt: skip
                    return 1
                print(f"mpac-pgw: worker {worker.worker_id} (pid {process.pid}) exited ({process.exitcode}); "
                      "starting it again", file=sys.stderr, flush=True)  # fmt: skip
                self._spawn(worker)
                code = self._await_ready(worker)
                if code is not None:
                    continue  # it died again at once: the next pass counts it against the budget

    def _may_restart(self) -> bool:
        now = time.monotonic()
        while self.restarts and now - self.restarts[0] > RESTART_WINDOW:
            self.restarts.popleft()
        if len(self.restarts) >= MAX_RESTARTS:
            return False
        self.restarts.append(now)
        return True

    def _stop_all(self) -> None:
        """SIGTERM every live worker, wait for all, SIGKILL those still there at the deadline."""
        alive = [w.process for w in self.workers if w.process is not None and w.process.exitcode is None]
        for process in alive:
            process.terminate()
        deadline = time.monotonic() + STOP_SECONDS
        for process in alive:
            process.join(timeout=max(0.0, deadline - time.monotonic()))
            if process.exitcode is None:
                process.kill()
                process.join(timeout=5)


def reserve_port(host: str, port: int) -> socket.socket:
    """A bound, never listening SO_REUSEPORT socket: it keeps the port (also one picked by port 0) for the
    workers' listening sockets of the same group, and receives no connection itself."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if port != 0:
        # SO_REUSEPORT would let this join another process's group on the port (another serve --workers of
        # the same user) and share its connections; a plain bind first refuses a port anyone listens on.
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as err:
                raise SettingsError(f"cannot bind {host}:{port}: {err.strerror}") from err
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise SettingsError(f"cannot bind {host}:{port}: {err.strerror}") from err
    return sock


def _orphan_watch(supervisor: int) -> None:
    """A worker whose supervisor is gone (SIGKILLed) stops itself cleanly, as if told to."""
    while os.getppid() == supervisor:
        time.sleep(ORPHAN_POLL_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)


def _worker_main(settings: Settings, serve: Serve, ready: Connection) -> None:
    """In the forked worker: take signals again, serve, tell the supervisor once listening."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _WATCHED)
    threading.Thread(target=_orphan_watch, args=(os.getppid(),), name="orphan-watch", daemon=True).start()

    def on_ready(line: str) -> None:
        ready.send(line)
        ready.close()

    try:
        serve(settings, on_ready)
    except (SettingsError, DomainError) as err:  # the same one line main() prints, never a traceback
        message = err.message if isinstance(err, DomainError) else str(err)
        code = getattr(err, "code", "settings_error")
        print(json.dumps({"error": {"code": code, "message": message}}), file=sys.stderr, flush=True)
        sys.exit(2)


def run_workers(settings: Settings, serve: Serve) -> int:
    """The supervisor's exit code (0 after a clean stop)."""
    return Supervisor(settings, serve).run()
