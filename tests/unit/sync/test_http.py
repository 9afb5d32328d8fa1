"""CloudSession against a real aiohttp server on 127.0.0.1: signing at send time, headers, network errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from sync.errors import CloudUnreachable, TransientUploadError
from sync.http import CloudSession, DeviceCredential, encode_json
from sync.signing import parse_authorization, secret_key_hash, verify
from tests.unit.sync.fakes import dead_url

CRED = DeviceCredential("dev_1", "pk_dev_1", "sk_dev_secret")
T0 = 1_700_000_000.0


class Recorder:
    """A loopback cloud that records every request it receives and answers with a fixed reply."""

    def __init__(self) -> None:
        self.seen: list[tuple[web.Request, bytes]] = []
        self.delay = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append((request, await request.read()))
        await asyncio.sleep(self.delay)
        return web.Response(status=429, body=b'{"ok":1}', headers={"Retry-After": "7"})

    def auth_headers(self, index: int = -1) -> list[str]:
        return self.seen[index][0].headers.getall("Authorization", [])

    def verifies(self, index: int = -1) -> bool:
        """Does the request at `index` carry a signature the cloud side accepts (raw path, no query)?"""
        request, body = self.seen[index]
        parsed = parse_authorization(self.auth_headers(index)[0])
        key_hash = secret_key_hash(CRED.secret_key)
        return verify(key_hash, parsed, request.method, request.rel_url.raw_path, body)


@pytest.fixture
async def cloud() -> AsyncIterator[tuple[Recorder, str]]:
    recorder = Recorder()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", recorder.handle)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    yield recorder, str(server.make_url(""))
    await server.close()


class TestCloudSession:
    async def test_signed_request_verifies_with_exactly_one_authorization(
            self, cloud: tuple[Recorder, str]) -> None:
        """A signed POST carries one Authorization header that sync.signing verifies over the raw body."""
        recorder, url = cloud
        async with CloudSession(url, CRED, clock=lambda: T0) as session:
            await session.request("POST", "/v1/sync/batches", body=b'{"items":[]}')
        assert len(recorder.auth_headers()) == 1
        assert recorder.verifies()
        assert parse_authorization(recorder.auth_headers()[0]).api_key == "pk_dev_1"

    async def test_signature_is_computed_at_send_time(self, cloud: tuple[Recorder, str]) -> None:
        """Two sends one second apart carry the clock's time of each send, both valid."""
        recorder, url = cloud
        now = [T0]
        async with CloudSession(url, CRED, clock=lambda: now[0]) as session:
            await session.request("GET", "/v1/payment_intents/pi_1")
            now[0] += 1
            await session.request("GET", "/v1/payment_intents/pi_1")
        stamps = [parse_authorization(recorder.auth_headers(i)[0]).timestamp for i in (0, 1)]
        assert stamps == [int(T0), int(T0) + 1]
        assert recorder.verifies(0) and recorder.verifies(1)

    async def test_query_string_is_not_signed(self, cloud: tuple[Recorder, str]) -> None:
        """A GET with a query string is signed over the path alone and still verifies."""
        recorder, url = cloud
        async with CloudSession(url, CRED, clock=lambda: T0) as session:
            await session.request("GET", "/v1/payment_intents?limit=5&status=succeeded")
        assert recorder.seen[-1][0].query_string == "limit=5&status=succeeded"
        assert recorder.verifies()

    async def test_borrowed_session_default_authorization_is_replaced(
            self, cloud: tuple[Recorder, str]) -> None:
        """A borrowed session's default Authorization never doubles ours, and close() leaves it open."""
        recorder, url = cloud
        async with aiohttp.ClientSession(headers={"Authorization": "Bearer stale"}) as http:
            session = CloudSession(url, CRED, clock=lambda: T0, session=http)
            await session.request("POST", "/v1/payment_intents", body=b"{}")
            await session.close()
            assert not http.closed
        assert len(recorder.auth_headers()) == 1 and recorder.verifies()

    @pytest.mark.parametrize(("credential", "signed"), [(CRED, False), (None, True)])
    async def test_unsigned_request_has_no_authorization(self, cloud: tuple[Recorder, str],
                                                         credential: DeviceCredential | None,
                                                         signed: bool) -> None:
        """signed=False, or no credential at all, sends no Authorization header."""
        recorder, url = cloud
        async with CloudSession(url, credential) as session:
            await session.request("POST", "/v1/devices/activate", body=b"{}", signed=signed)
        assert recorder.auth_headers() == []

    async def test_json_body_and_idempotency_key_headers(self, cloud: tuple[Recorder, str]) -> None:
        """A body is sent byte-exact as JSON with the Idempotency-Key; a bodiless GET has no Content-Type."""
        recorder, url = cloud
        body = encode_json({"amount": 1000, "currency": "JPY"})
        async with CloudSession(url, CRED) as session:
            await session.request("POST", "/v1/payment_intents", body=body, idempotency_key="idem-1")
            await session.request("GET", "/v1/payment_intents/pi_1")
        post, sent = recorder.seen[0]
        assert sent == b'{"amount":1000,"currency":"JPY"}'
        assert post.headers["Content-Type"] == "application/json"
        assert post.headers["Idempotency-Key"] == "idem-1"
        assert "Content-Type" not in recorder.seen[1][0].headers

    async def test_reply_carries_status_retry_after_and_raw_body(self, cloud: tuple[Recorder, str]) -> None:
        """Any HTTP answer is returned as is (status, Retry-After, raw bytes), never raised."""
        _, url = cloud
        async with CloudSession(url, CRED) as session:
            reply = await session.request("GET", "/anything")
        assert (reply.status, reply.retry_after, reply.body) == (429, "7", b'{"ok":1}')

    async def test_connection_refused_is_cloud_unreachable(self) -> None:
        """No server listening raises CloudUnreachable, a TransientUploadError with no status."""
        async with CloudSession(await dead_url(), CRED, timeout_s=2) as session:
            with pytest.raises(CloudUnreachable) as info:
                await session.request("GET", "/health")
        assert isinstance(info.value, TransientUploadError) and info.value.status is None
        assert isinstance(info.value.__cause__, aiohttp.ClientError | OSError)

    async def test_timeout_is_cloud_unreachable(self, cloud: tuple[Recorder, str]) -> None:
        """A server slower than the per-request timeout raises CloudUnreachable from a TimeoutError."""
        recorder, url = cloud
        recorder.delay = 2.0
        async with CloudSession(url, CRED, timeout_s=30) as session:
            with pytest.raises(CloudUnreachable) as info:
                await session.request("GET", "/slow", timeout_s=0.2)
        assert isinstance(info.value.__cause__, TimeoutError)
