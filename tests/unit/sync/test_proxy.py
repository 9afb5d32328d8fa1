"""ChaosProxy: forwards, drops before forwarding, or swallows the response after the upstream processed it."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from sync.testing import ChaosConfig, ChaosProxy


async def _counting_upstream() -> tuple[TestServer, list[bytes]]:
    got: list[bytes] = []

    async def handler(request: web.Request) -> web.Response:
        got.append(await request.read())
        return web.json_response({"n": len(got)})

    app = web.Application()
    app.router.add_post("/x", handler)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    return server, got


async def _post(port: int, body: bytes) -> int:
    async with aiohttp.ClientSession() as session, session.post(
            f"http://127.0.0.1:{port}/x", data=body, timeout=aiohttp.ClientTimeout(total=5)) as resp:
        return int((await resp.json())["n"])


async def _through(config: ChaosConfig, body: bytes = b"a") -> tuple[ChaosProxy, list[bytes], bool]:
    """One POST through a proxy with `config`: (proxy, what the upstream received, did the client fail)."""
    server, got = await _counting_upstream()
    proxy = ChaosProxy("127.0.0.1", server.port or 0, config)
    port = await proxy.start()
    try:
        await _post(port, body)
        failed = False
    except aiohttp.ClientError:
        failed = True
    await proxy.stop()
    await server.close()
    return proxy, got, failed


class TestChaosProxy:
    async def test_pass_through(self) -> None:
        """With no faults configured the response comes back intact."""
        _, got, failed = await _through(ChaosConfig())
        assert not failed and got == [b"a"]

    async def test_drop_never_reaches_upstream(self) -> None:
        """A dropped connection fails on the client and the upstream saw nothing."""
        proxy, got, failed = await _through(ChaosConfig(drop=1.0))
        assert failed and got == [] and proxy.stats.dropped == 1

    async def test_swallow_after_upstream_processed(self) -> None:
        """A swallowed response fails on the client although the upstream processed the request."""
        proxy, got, failed = await _through(ChaosConfig(swallow=1.0))
        assert failed and got == [b"a"] and proxy.stats.swallowed == 1

    async def test_faults_are_bounded(self) -> None:
        """After max_faults the proxy only forwards."""
        server, _got = await _counting_upstream()
        proxy = ChaosProxy("127.0.0.1", server.port or 0, ChaosConfig(drop=1.0, max_faults=1))
        port = await proxy.start()
        with pytest.raises(aiohttp.ClientError):
            await _post(port, b"a")
        assert await _post(port, b"b") == 1
        await proxy.stop()
        await server.close()

    async def test_each_exchange_on_a_kept_alive_connection_gets_a_decision(self) -> None:
        """Requests reusing one connection are judged one by one (keep-alive does not dodge the chaos)."""
        server, got = await _counting_upstream()
        proxy = ChaosProxy("127.0.0.1", server.port or 0)
        port = await proxy.start()
        async with aiohttp.ClientSession() as session:
            for body in (b"1", b"2", b"3"):
                async with session.post(f"http://127.0.0.1:{port}/x", data=body) as resp:
                    await resp.read()
        await proxy.stop()
        await server.close()
        assert got == [b"1", b"2", b"3"]
        assert (proxy.stats.connections, proxy.stats.exchanges) == (1, 3)

    def test_same_seed_same_decisions(self) -> None:
        """Two proxies with the same seed make the same sequence of choices (replayable chaos)."""
        cfg = ChaosConfig(drop=0.3, swallow=0.3, seed=42)
        a, b = ChaosProxy("127.0.0.1", 1, cfg), ChaosProxy("127.0.0.1", 1, cfg)
        assert [a._decide() for _ in range(50)] == [b._decide() for _ in range(50)]
