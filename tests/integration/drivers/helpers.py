"""Shared helpers for device tests over real ptys."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def wait_until(predicate: Callable[[], bool], within: float = 5.0) -> None:
    """Poll until predicate() holds; TimeoutError after `within` s (a bound, not a timed assertion)."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - polls state owned by the code under test
            await asyncio.sleep(0.02)
