"""The one wall clock of both processes, in Unix milliseconds (the unit of every stored time)."""

from __future__ import annotations

import time


def wall_clock_ms() -> int:
    """Unix time in milliseconds."""
    return time.time_ns() // 1_000_000
