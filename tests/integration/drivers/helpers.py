"""Shared helpers for device tests over real ptys."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll until predicate() is true; TimeoutError after `timeout` seconds (a bound, not a timed assertion)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)
