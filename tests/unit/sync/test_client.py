"""SyncClient: signs at send time and maps each HTTP outcome to a result or a SyncError (loopback server)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from sync.client import DeviceCredential, SyncClient
from sync.errors import BatchRejected, TransientUploadError
from sync.signing import parse_authorization, secret_key_hash, verify
from tests.unit.sync.fakes import dead_url

CRED = DeviceCredential("dev_1", "pk_dev_1", "sk_dev_secret")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _serve(handler: Handler) -> TestServer:
    app = web.Application()
    app.router.add_post("/v1/sync/batches", handler)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    return server


async def _send(server: TestServer, body: bytes = b'{"items":[]}', clock: float = 1_700_000_000.0) -> Any:
    client = SyncClient(str(server.make_url("")), CRED, clock=lambda: clock, timeout=5)
    try:
        return await client.send(body)
    finally:
        await client.close()
        await server.close()


class TestSyncClient:
    async def test_request_is_signed_with_the_device_key(self) -> None:
        """The server can verify the Authorization header against the stored secret hash."""
        seen: dict[str, Any] = {}

        async def handler(request: web.Request) -> web.Response:
            body = await request.read()
            parsed = parse_authorization(request.headers["Authorization"])
            seen.update(ok=verify(secret_key_hash(CRED.secret_key), parsed, "POST", request.path, body),
                        key=parsed.api_key, ts=parsed.timestamp)
            return web.json_response({"batch_id": "b", "server_time": 5, "results": []})

        response = await _send(await _serve(handler))
        assert seen == {"ok": True, "key": "pk_dev_1", "ts": 1_700_000_000}
        assert response.server_time == 5

    async def test_429_is_transient_with_retry_after(self) -> None:
        """429 raises TransientUploadError carrying the Retry-After seconds."""
        async def handler(_: web.Request) -> web.Response:
            return web.json_response({"error": {"code": "rate_limited"}}, status=429,
                                     headers={"Retry-After": "7"})

        with pytest.raises(TransientUploadError) as info:
            await _send(await _serve(handler))
        assert info.value.retry_after == 7.0 and info.value.status == 429

    async def test_5xx_is_transient(self) -> None:
        """A 503 is retried later, not a rejection."""
        async def handler(_: web.Request) -> web.Response:
            return web.Response(status=503, text="busy")

        with pytest.raises(TransientUploadError):
            await _send(await _serve(handler))

    async def test_401_is_a_batch_rejection_with_the_code(self) -> None:
        """A 401 raises BatchRejected with the server's error code."""
        async def handler(_: web.Request) -> web.Response:
            return web.json_response({"error": {"type": "authentication_error", "code": "invalid_signature",
                                                "message": "no"}}, status=401)

        with pytest.raises(BatchRejected) as info:
            await _send(await _serve(handler))
        assert (info.value.status, info.value.code) == (401, "invalid_signature")

    async def test_malformed_200_is_transient(self) -> None:
        """A 200 whose body is not a batch response is treated as not received."""
        async def handler(_: web.Request) -> web.Response:
            return web.Response(status=200, text="<html>captive portal</html>")

        with pytest.raises(TransientUploadError):
            await _send(await _serve(handler))

    async def test_connection_refused_is_transient(self) -> None:
        """No server listening → TransientUploadError, never a crash."""
        client = SyncClient(await dead_url(), CRED, timeout=2)
        with pytest.raises(TransientUploadError):
            await client.send(b"{}")
        await client.close()

    def test_secret_is_not_in_repr(self) -> None:
        """The credential's repr never shows the secret key."""
        assert "sk_dev_secret" not in repr(CRED)


class TestSyncClientProbe:
    async def test_probe_is_an_unsigned_health_check(self) -> None:
        """probe() GETs /health without an Authorization header and reports a sub-500 answer as up."""
        seen: list[str | None] = []

        async def health(request: web.Request) -> web.Response:
            seen.append(request.headers.get("Authorization"))
            return web.json_response({"status": "ok"})

        app = web.Application()
        app.router.add_get("/health", health)
        server = TestServer(app, host="127.0.0.1", port=0)
        await server.start_server()
        client = SyncClient(str(server.make_url("")), CRED, timeout=5)
        try:
            assert await client.probe() is True
        finally:
            await client.close()
            await server.close()
        assert seen == [None]

    async def test_probe_without_a_server_is_false(self) -> None:
        """probe() answers False, never raises, when nothing listens."""
        client = SyncClient(await dead_url(), CRED, timeout=2)
        assert await client.probe() is False
        await client.close()
