"""agent.adapters.systemd: sd_notify datagrams on a real unix socket the test owns, the watchdog interval
from the environment, and journal-formatted log lines."""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.adapters.systemd import JournalFormatter, Notifier


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(5)
    yield sock
    sock.close()


def fields(sock: socket.socket) -> dict[str, str]:
    return dict(line.split("=", 1) for line in sock.recv(4096).decode().splitlines())


class TestNotifier:
    def test_ready_is_one_datagram_with_status_and_pid(self, tmp_path: Path, listener: socket.socket) -> None:
        """ready() sends READY=1, a one-line STATUS and MAINPID in one datagram."""
        notifier = Notifier.from_environ({"NOTIFY_SOCKET": str(tmp_path / "notify")})
        assert notifier.ready("online;\n 3 sales pending")
        expected = {"READY": "1", "STATUS": "online; 3 sales pending", "MAINPID": str(os.getpid())}
        assert fields(listener) == expected
        notifier.close()

    def test_abstract_namespace_address(self) -> None:
        """A NOTIFY_SOCKET starting with @ names an abstract socket."""
        name = f"mpac-test-{os.getpid()}"
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind("\0" + name)
            sock.settimeout(5)
            notifier = Notifier.from_environ({"NOTIFY_SOCKET": "@" + name})
            assert notifier.stopping("stopping")
            assert fields(sock) == {"STOPPING": "1", "STATUS": "stopping"}
            notifier.close()

    def test_not_under_systemd_is_a_no_op(self) -> None:
        """Without NOTIFY_SOCKET nothing is sent and there is no watchdog."""
        notifier = Notifier.from_environ({})
        assert not notifier.enabled and not notifier.watchdog() and notifier.watchdog_interval_s is None

    def test_watchdog_interval_is_half_of_watchdog_usec(self) -> None:
        """WATCHDOG_USEC=20 s gives a ping every 10 s."""
        assert Notifier.from_environ({"WATCHDOG_USEC": "20000000"}).watchdog_interval_s == 10.0

    def test_watchdog_for_another_pid_is_ignored(self) -> None:
        """WATCHDOG_PID naming another process means the watchdog is not ours."""
        env = {"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": str(os.getpid() + 1)}
        assert Notifier.from_environ(env).watchdog_interval_s is None

    def test_vanished_socket_warns_once(self, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        """A socket that is gone makes send() return False and logs one warning, not one per ping."""
        notifier = Notifier.from_environ({"NOTIFY_SOCKET": str(tmp_path / "gone")})
        with caplog.at_level(logging.WARNING):
            assert not notifier.watchdog() and not notifier.watchdog()
        assert len([r for r in caplog.records if "cannot notify systemd" in r.message]) == 1

    def test_status_is_cut_to_one_short_line(self, tmp_path: Path, listener: socket.socket) -> None:
        """A long multi-line status becomes one line of at most 200 characters."""
        notifier = Notifier.from_environ({"NOTIFY_SOCKET": str(tmp_path / "notify")})
        notifier.status("x\n" * 300)
        status = fields(listener)["STATUS"]
        assert "\n" not in status and len(status) == 200
        notifier.close()


class TestJournalFormatter:
    def test_priority_prefix_and_one_line(self) -> None:
        """An error with a traceback is one line starting with <3>."""
        try:
            raise ValueError("bad\nthing")
        except ValueError:
            record = logging.LogRecord("agent.x", logging.ERROR, __file__, 1, "failed: %s", ("why",),
                                       exc_info=sys.exc_info())
        line = JournalFormatter().format(record)
        assert line.startswith("<3>ERROR agent.x: failed: why | Traceback") and "\n" not in line

    def test_info_is_priority_6(self) -> None:
        """INFO lines carry <6>."""
        record = logging.LogRecord("agent", logging.INFO, __file__, 1, "ready", (), None)
        assert JournalFormatter().format(record) == "<6>INFO agent: ready"


class TestNeverBlocks:
    def test_full_queue_drops_instead_of_blocking(self, tmp_path: Path, listener: socket.socket) -> None:
        """A receiver that never reads: sends past its queue return False at once instead of blocking."""
        notifier = Notifier.from_environ({"NOTIFY_SOCKET": str(tmp_path / "notify")})
        results = [notifier.watchdog() for _ in range(2000)]
        assert results[0] and not results[-1]
        notifier.close()
