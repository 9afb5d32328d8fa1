"""The recent-log view of the status page's admin area (docs/local-web.md): the last lines of the agent's log,
kept in memory by a ring-buffer handler on the root logger.

Nothing secret reaches the buffer: each line is formatted, then card numbers are masked (sync/pan.py) and the
values of known secret fields (secret keys, passwords, signatures, tokens) are replaced before it is stored.
"""

from __future__ import annotations

import collections
import logging
import re
import threading
from datetime import datetime, tzinfo

from sync.pan import mask_pans

MAX_LINES = 500
MAX_LINE_CHARS = 2000
HIDDEN = "[hidden]"
_SECRET_FIELD = re.compile(
    r"""(?ix)
    (["']?(?:secret_key|secret|password|admin_password|api_secret|token|payment_token|authorization|
          credentials?|private_key|whsec)["']?\s*[:=]\s*)
    ("[^"]*"|'[^']*'|[^\s,;}&]+)
    """)
_SECRET_VALUE = re.compile(r"\b(?:sk_[A-Za-z0-9_]{6,}|whsec_[A-Za-z0-9+/=]{8,}|tok_[A-Za-z0-9_]{8,})")
_HMAC = re.compile(r"HMAC-SHA256\s+\S+")


def scrub(text: str) -> str:
    """A log line without card numbers or secret values."""
    text = mask_pans(text[:MAX_LINE_CHARS])
    text = _HMAC.sub(f"HMAC-SHA256 {HIDDEN}", text)
    text = _SECRET_FIELD.sub(lambda m: m.group(1) + HIDDEN, text)
    return _SECRET_VALUE.sub(HIDDEN, text)


class RingBufferHandler(logging.Handler):
    """Keeps the last MAX_LINES formatted, scrubbed log lines in memory."""

    def __init__(self, tz: tzinfo, capacity: int = MAX_LINES) -> None:
        super().__init__(level=logging.INFO)
        self._tz = tz  # the store's time zone, like every time on the pages
        self._lines: collections.deque[str] = collections.deque(maxlen=capacity)
        self._guard = threading.Lock()  # records may come from worker threads (device transports)

    def emit(self, record: logging.LogRecord) -> None:
        """Format (with the exception, if any), scrub, store."""
        try:
            stamp = datetime.fromtimestamp(record.created, self._tz).strftime("%Y-%m-%d %H:%M:%S")
            message = record.getMessage()
            if record.exc_info and record.exc_info[0] is not None:
                message += f" ({record.exc_info[0].__name__})"  # the type only: a traceback may quote values
            line = scrub(f"{stamp} {record.levelname} {record.name}: {message}")
        except Exception:  # a broken log call must never break the agent
            return
        with self._guard:
            self._lines.append(line)

    def lines(self, last: int = 200) -> list[str]:
        """The newest `last` lines, oldest first."""
        with self._guard:
            return list(self._lines)[-last:]
