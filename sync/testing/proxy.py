"""A loopback TCP chaos proxy (asyncio): per connection it forwards, drops before forwarding, or forwards the
request and swallows the response AFTER the upstream processed it (the lost-ack case). Seeded, bounded."""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass

_CHUNK = 65536


@dataclass(frozen=True, slots=True)
class ChaosConfig:
    """Fault probabilities per connection; `max_faults` bounds the total (None = unbounded)."""

    drop: float = 0.0
    swallow: float = 0.0
    seed: int = 0
    max_faults: int | None = None


@dataclass(slots=True)
class ChaosStats:
    """What the proxy did so far."""

    connections: int = 0
    dropped: int = 0
    swallowed: int = 0


class ChaosProxy:
    """Listens on 127.0.0.1:0 and relays to an upstream host:port with seeded faults."""

    def __init__(self, upstream_host: str, upstream_port: int, config: ChaosConfig | None = None) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.config = config or ChaosConfig()
        self.stats = ChaosStats()
        self._rng = random.Random(self.config.seed)  # noqa: S311 -- replayable chaos, not crypto
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The listening port (after start)."""
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, port: int = 0) -> int:
        """Start listening; returns the port."""
        self._server = await asyncio.start_server(self._on_client, "127.0.0.1", port)
        return self.port

    async def stop(self) -> None:
        """Stop listening and cut every open relay."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        self._server = None

    def _decide(self) -> str:
        cfg = self.config
        faults = self.stats.dropped + self.stats.swallowed
        roll = self._rng.random()
        if cfg.max_faults is not None and faults >= cfg.max_faults:
            return "pass"
        if roll < cfg.drop:
            return "drop"
        if roll < cfg.drop + cfg.swallow:
            return "swallow"
        return "pass"

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.stats.connections += 1
        try:
            await self._relay(self._decide(), reader, writer)
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._tasks.discard(task)
            with contextlib.suppress(OSError):
                writer.close()

    async def _relay(self, mode: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if mode == "drop":
            self.stats.dropped += 1
            await reader.read(_CHUNK)  # take the request, forward nothing
            return
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        try:
            upward = asyncio.ensure_future(_pipe(reader, up_writer))
            if mode == "swallow":
                self.stats.swallowed += 1
                await up_reader.read(_CHUNK)  # the upstream has answered: it processed the request
                upward.cancel()
                return
            await _pipe(up_reader, writer)
            upward.cancel()
        finally:
            with contextlib.suppress(OSError):
                up_writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(_CHUNK):
        writer.write(data)
        await writer.drain()
    with contextlib.suppress(OSError):
        writer.write_eof()
