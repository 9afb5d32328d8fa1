"""One pooled aiohttp ClientSession per provider adapter (docs/providers.md#connections).

A provider adapter lives for the whole process, but a ClientSession belongs to the event loop it was made
in, so the session is made on first use inside the running loop (never at import or construction time) and
closed by the app's cleanup (`cloud/bootstrap.py`). Its connector caps the open connections; per-request
timeouts stay with the caller, because each store's config may choose its own.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import aiohttp

KEEPALIVE_S = 15.0  # an idle pooled connection is dropped after this (aiohttp's default, said out loud)
CONNECT_S = 5.0  # no config may wait longer than this for the TCP connect alone


@runtime_checkable
class Closeable(Protocol):
    """An adapter holding a pooled session; `aclose()` releases it (repeatable)."""

    async def aclose(self) -> None:
        """Close the pooled connections."""


@dataclass(slots=True)
class SessionPool:
    """A lazily made ClientSession with at most `limit` connections (`limit_per_host` to any one host)."""

    limit: int = 32
    limit_per_host: int = 32
    _session: aiohttp.ClientSession | None = field(default=None, init=False, repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, init=False, repr=False)

    def session(self) -> aiohttp.ClientSession:
        """The pooled session of the running loop (made now if there is none, or it was closed)."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            # A session of another (finished) loop cannot be used here; it is dropped, not shared.
            connector = aiohttp.TCPConnector(
                limit=self.limit, limit_per_host=self.limit_per_host, keepalive_timeout=KEEPALIVE_S
            )
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_S)
            self._session = aiohttp.ClientSession(connector=connector, timeout=timeout)
            self._loop = loop
        return self._session

    async def aclose(self) -> None:
        """Close the session and its connections; the next call makes a new one."""
        session, self._session, self._loop = self._session, None, None
        if session is not None and not session.closed:
            await session.close()
