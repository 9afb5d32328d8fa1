"""sd_notify over the plain unix datagram socket systemd gives a Type=notify service (no libsystemd).

The protocol is newline-separated `KEY=VALUE` assignments in one datagram sent to `$NOTIFY_SOCKET`; a leading
`@` names a socket in the abstract namespace. The watchdog interval comes from `$WATCHDOG_USEC` (and applies
only when `$WATCHDOG_PID` is unset or is this process). See docs/operations.md, "Under systemd".
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

log = logging.getLogger(__name__)
MAX_STATUS_CHARS = 200  # `systemctl status` shows one line; keep it readable


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MAX_STATUS_CHARS else line[: MAX_STATUS_CHARS - 1] + "…"


@dataclass
class Notifier:
    """Sends READY/STATUS/WATCHDOG/STOPPING to systemd; every call is a no-op when not under systemd."""

    address: str | None = None
    watchdog_usec: int | None = None
    _sock: socket.socket | None = None
    _failed: bool = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], pid: int | None = None) -> Notifier:
        """The notifier systemd asked for in `environ` (the CLI passes os.environ; nothing else reads it)."""
        address = environ.get("NOTIFY_SOCKET") or None
        usec: int | None = None
        watchdog_pid = environ.get("WATCHDOG_PID", "")
        for_us = not watchdog_pid or watchdog_pid == str(os.getpid() if pid is None else pid)
        raw = environ.get("WATCHDOG_USEC", "")
        if for_us and raw.isdigit() and int(raw) > 0:
            usec = int(raw)
        return cls(address, usec)

    @property
    def enabled(self) -> bool:
        """True when systemd gave a notification socket."""
        return self.address is not None

    @property
    def watchdog_interval_s(self) -> float | None:
        """How often to send WATCHDOG=1: half of WATCHDOG_USEC (sd_watchdog_enabled(3)); None when off."""
        return None if self.watchdog_usec is None else self.watchdog_usec / 2_000_000

    def send(self, **fields: str) -> bool:
        """One datagram of KEY=VALUE lines; False when not under systemd or the socket refused it."""
        if self.address is None:
            return False
        payload = "\n".join(f"{key}={value}" for key, value in fields.items()).encode()
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                # Never block the event loop: a full queue (systemd busy) drops this one datagram instead.
                self._sock.setblocking(False)
            self._sock.sendto(payload, target)
        except OSError as err:
            if not self._failed:  # say it once: a broken notify socket must not flood the journal
                log.warning("cannot notify systemd at %s: %s", self.address, err.strerror or err)
            self._failed = True
            return False
        return True

    def ready(self, status: str) -> bool:
        """READY=1 with a first status line."""
        return self.send(READY="1", STATUS=_one_line(status), MAINPID=str(os.getpid()))

    def status(self, text: str) -> bool:
        """STATUS=<one line>, shown by `systemctl status`."""
        return self.send(STATUS=_one_line(text))

    def watchdog(self) -> bool:
        """WATCHDOG=1: the process is healthy."""
        return self.send(WATCHDOG="1")

    def stopping(self, status: str) -> bool:
        """STOPPING=1 with the reason."""
        return self.send(STOPPING="1", STATUS=_one_line(status))

    def close(self) -> None:
        """Close the socket (the notifier can be used again afterwards)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None


# sd-daemon(3) priority prefixes, which journald reads from a service's stderr (SyslogLevelPrefix=yes).
_PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7}


class JournalFormatter(logging.Formatter):
    """`<prio>LEVEL logger: message` on one line (a traceback is folded in); journald adds the time."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one journal line."""
        text = f"{record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info:
            text += " | " + self.formatException(record.exc_info)
        prio = _PRIORITY.get(record.levelno, 6)
        return f"<{prio}>" + text.replace("\n", " | ")


def use_journal_format() -> None:
    """Make every handler of the root logger write journal lines."""
    for handler in logging.getLogger().handlers:
        handler.setFormatter(JournalFormatter())
