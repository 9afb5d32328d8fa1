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
    delay: float = 0.0  # up to this many seconds of latency per exchange, half before, half after upstream


@dataclass(slots=True)
class ChaosStats:
    """What the proxy did so far."""

    connections: int = 0
    exchanges: int = 0
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
        self._relays: set[_Relay] = set()

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
        for relay in list(self._relays):
            relay.close()  # ends both reads, so each handler returns on its own (no task cancellation)
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
        self.stats.connections += 1
        relay = _Relay(self, reader, writer)
        self._relays.add(relay)
        try:
            await relay.run()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._relays.discard(relay)
            relay.close()


class _Relay:
    """One client connection. HTTP/1.1 without pipelining: client bytes after a response (or at the start)
    open a new exchange, and each exchange gets its own chaos decision, so keep-alive reuse is covered."""

    def __init__(self, proxy: ChaosProxy, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.proxy, self.reader, self.writer = proxy, reader, writer
        self.exchange = "idle"
        self.delay = 0.0
        self.up_writer: asyncio.StreamWriter | None = None

    async def run(self) -> None:
        down: asyncio.Task[None] | None = None
        try:
            while data := await self.reader.read(_CHUNK):
                if self.exchange == "idle":
                    self.proxy.stats.exchanges += 1
                    self.exchange = self.proxy._decide()
                    if self.exchange == "drop":
                        self.proxy.stats.dropped += 1  # the request never reaches the upstream
                        return
                    self.delay = self.proxy._rng.uniform(0, self.proxy.config.delay) / 2
                    await asyncio.sleep(self.delay)
                if self.up_writer is None:
                    up_reader, self.up_writer = await asyncio.open_connection(*self.proxy.upstream)
                    down = asyncio.ensure_future(self._downstream(up_reader))
                self.up_writer.write(data)
                await self.up_writer.drain()
                if down is not None and down.done():
                    return
            if down is not None:
                await down
        finally:
            if down is not None:
                down.cancel()

    async def _downstream(self, up_reader: asyncio.StreamReader) -> None:
        while data := await up_reader.read(_CHUNK):
            if self.exchange == "swallow":
                self.proxy.stats.swallowed += 1  # the upstream answered: it processed the request
                self.close()
                return
            if self.delay:
                await asyncio.sleep(self.delay)  # the cloud has committed; the answer is late
                self.delay = 0.0
            self.writer.write(data)
            await self.writer.drain()
            self.exchange = "idle"
        self.close()

    def close(self) -> None:
        for w in (self.writer, self.up_writer):
            if w is not None:
                with contextlib.suppress(OSError, RuntimeError):
                    w.close()
