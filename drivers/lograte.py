"""Rate-limited log lines for events an outside device can repeat at will (docs/devices.md#logs).

A scanner sending garbage or a reader sending bad frames must not fill the disk: per key, the first line is
logged, repeats within `interval_s` are only counted, and the first repeat after the interval is logged with
how many were suppressed. Keys are fixed strings chosen by the code, never device data, so the table stays
small. Log arguments must be counts, codes or lengths, never raw device fields (they may hold card data).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class LogLimiter:
    """At most one line per key per `interval_s` (plus the count of what was held back)."""

    def __init__(
        self, logger: logging.Logger, interval_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.logger = logger
        self.interval_s = interval_s
        self.clock = clock
        self._windows: dict[str, tuple[float, int]] = {}  # key -> (when its last line was logged, held back)

    def log(self, level: int, key: str, msg: str, *args: object) -> bool:
        """Log `msg % args` unless `key` was logged less than interval_s ago; True if it was logged."""
        now = self.clock()
        window = self._windows.get(key)
        if window is not None and now - window[0] < self.interval_s:
            self._windows[key] = (window[0], window[1] + 1)
            return False
        self._windows[key] = (now, 0)
        if window is not None and window[1]:
            msg += " (%d more suppressed in the last %.0f s)"
            args = (*args, window[1], now - window[0])
        self.logger.log(level, msg, *args)
        return True

    def suppressed(self, key: str) -> int:
        """Lines of `key` held back since its last logged line."""
        window = self._windows.get(key)
        return window[1] if window is not None else 0
