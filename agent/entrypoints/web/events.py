"""GET /api/web/events — live updates of the status page as Server-Sent Events (docs/local-web.md).

Every second the stream builds what the page's 3 s poll would fetch and sends it only when it changed:
`event: status` (/api/status and /api/web/status in one object) and, less often, `event: overview`. A comment
line every 15 s keeps idle proxies from closing it. The page falls back to polling whenever the stream drops.
Streams end when the app shuts down, so a stop never waits for an open page.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from agent.domain.errors import AgentError

log = logging.getLogger(__name__)
TICK_S = 1.0
OVERVIEW_EVERY = 5  # ticks
HEARTBEAT_EVERY = 15  # ticks
MAX_STREAMS = 8  # a few pages at once; more is a misbehaving client
Builder = Callable[[], Awaitable[dict[str, Any]]]


class EventStreams:
    """The open streams, so that shutdown can end them."""

    def __init__(self) -> None:
        self.stopping = asyncio.Event()
        self.open = 0

    async def on_shutdown(self, _app: web.Application) -> None:
        """aiohttp on_shutdown: ask every stream to end."""
        self.stopping.set()


def _frame(event: str, body: dict[str, Any]) -> bytes:
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event}\ndata: {data}\n\n".encode()


async def _wait(streams: EventStreams, seconds: float) -> bool:
    """Sleep `seconds`; True when the app is stopping."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(streams.stopping.wait(), seconds)
    return streams.stopping.is_set()


async def stream(request: web.Request, streams: EventStreams, status: Builder,
                 overview: Builder) -> web.StreamResponse:
    """Send status/overview events until the client leaves or the app stops."""
    if streams.open >= MAX_STREAMS:
        raise AgentError("too_many_streams", "Too many live pages are open; this one refreshes by polling.",
                         status=503)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    streams.open += 1
    sent: dict[str, str] = {}
    tick = 0
    try:
        await response.write(b"retry: 3000\n\n")
        while not streams.stopping.is_set():
            for event, build in (("status", status), ("overview", overview)):
                if event == "overview" and tick % OVERVIEW_EVERY:
                    continue
                body = await build()
                key = json.dumps({k: v for k, v in body.items() if k != "generated_at"}, sort_keys=True)
                if sent.get(event) != key:
                    sent[event] = key
                    await response.write(_frame(event, body))
            if tick % HEARTBEAT_EVERY == HEARTBEAT_EVERY - 1:
                await response.write(b": keep-alive\n\n")
            tick += 1
            if await _wait(streams, TICK_S):
                break
    except ConnectionResetError:
        pass  # the page went away
    except Exception:  # a failed build: end this stream; the page polls instead
        log.exception("status event stream failed")
    finally:
        streams.open -= 1
    return response
