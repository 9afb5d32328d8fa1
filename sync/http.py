"""`CloudSession`: the one HTTP client of the agent side towards the cloud (docs/cloud-api.md).

Every request to the cloud goes through `CloudSession.request`: it is HMAC-signed there, at send time, when a
device credential is set (docs/sync-protocol.md), and network failures are translated there, once, into
`CloudUnreachable`. What an HTTP status means is left to the caller (sync client, QR sales, enrollment).

HTTPS is verified there too, always, by the session's `CloudTrust` (system CA store, or `[cloud] ca_file`, and
`[cloud] pins`; docs/sync-protocol.md, "Verifying the cloud"): a certificate that does not verify is
`CloudNotTrusted` with its reason, and http:// is refused unless the cloud is on loopback. There is no switch
to turn verification off and no fallback to plain HTTP.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import aiohttp
from yarl import URL

from sync.errors import CloudUnreachable
from sync.signing import authorization_header
from sync.tls import CloudTrust, plain_http_refusal


def network_error_text(err: BaseException, url: URL, timeout_s: float | None) -> str:
    """A complete sentence for a failed request: what went wrong and where, never an empty message."""
    where = f"{url.scheme}://{url.host}:{url.port}" if url.host else str(url)
    if isinstance(err, TimeoutError | aiohttp.ServerTimeoutError):
        limit = f" within {timeout_s:g} s" if timeout_s else ""
        return f"the cloud at {where} did not answer{limit} (timeout)"
    if isinstance(err, aiohttp.ClientSSLError):
        return f"the TLS connection to {where} failed ({type(err).__name__}: {err})"
    if isinstance(err, aiohttp.ClientConnectorError):
        reason = err.os_error.strerror or type(err.os_error).__name__
        return f"cannot connect to the cloud at {where}: {reason}"
    if isinstance(err, aiohttp.ServerDisconnectedError):
        return f"the cloud at {where} closed the connection before answering"
    detail = str(err).strip()
    return f"the request to {where} failed: {type(err).__name__}" + (f": {detail}" if detail else "")


@dataclass(frozen=True, slots=True)
class DeviceCredential:
    """What enrollment gave the device; `secret_key` is never printed (repr hides it)."""

    device_id: str
    api_key: str
    secret_key: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class CloudReply:
    """What the callers need of an answer: the status, the raw Retry-After header and the raw body (and the
    Date header: doctor compares clocks with it)."""

    status: int
    retry_after: str | None
    body: bytes
    date: str | None = None


def encode_json(payload: Any) -> bytes:
    """Compact UTF-8 JSON: the exact bytes that are sent and signed."""
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


class CloudSession:
    """Requests to one cloud base URL over an aiohttp session it owns (opened lazily) or borrows."""

    def __init__(self, base_url: str, credential: DeviceCredential | None = None, *,
                 timeout_s: float = 30.0, connect_timeout_s: float | None = None,
                 clock: Callable[[], float] = time.time,
                 session: aiohttp.ClientSession | None = None, trust: CloudTrust | None = None) -> None:
        self._base = base_url.rstrip("/")
        self._trust = trust if trust is not None else CloudTrust()
        self._credential = credential
        self._timeout_s = timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._clock = clock
        self._session = session
        self._owns_session = session is None

    @property
    def trust(self) -> CloudTrust:
        """What this session verifies the cloud with (and the last outcome)."""
        return self._trust

    @property
    def credential(self) -> DeviceCredential | None:
        """The credential requests are signed with (None: unsigned only)."""
        return self._credential

    async def request(self, method: str, path: str, *, body: bytes | None = None,
                      idempotency_key: str | None = None, signed: bool = True,
                      timeout_s: float | None = None) -> CloudReply:
        """Send one request (signed now if `signed` and a credential is set); raise CloudUnreachable."""
        url = URL(self._base + path)
        if (refused := plain_http_refusal(url)) is not None:
            raise self._trust.failed(refused)
        ssl_context = self._trust.ssl_context() if url.scheme == "https" else True
        headers = self._headers(method.upper(), url, body, idempotency_key, signed)
        session = self._session_for_request()
        try:
            async with session.request(method.upper(), url, data=body, headers=headers, ssl=ssl_context,
                                       timeout=self._timeout(timeout_s)) as resp:
                return CloudReply(resp.status, resp.headers.get("Retry-After"), await resp.read(),
                                  resp.headers.get("Date"))
        except aiohttp.ClientConnectorCertificateError as err:
            # Never retried without verification or over HTTP: the caller gets the reason and backs off.
            raise self._trust.rejected(err.certificate_error, f"{url.host}:{url.port}") from err
        except (TimeoutError, aiohttp.ClientError, OSError) as err:
            total = self._timeout(timeout_s).total
            raise CloudUnreachable(f"network error: {network_error_text(err, url, total)}") from err

    def _headers(self, method: str, url: URL, body: bytes | None, idempotency_key: str | None,
                 signed: bool) -> dict[str, str]:
        headers: dict[str, str] = {}
        cred = self._credential
        if signed and cred is not None:
            # The cloud verifies against the raw path it received, without the query string.
            headers["Authorization"] = authorization_header(
                cred.api_key, cred.secret_key, method, url.raw_path, int(self._clock()), body or b"")
        if body is not None:
            headers["Content-Type"] = "application/json"
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    def _timeout(self, timeout_s: float | None) -> aiohttp.ClientTimeout:
        total = self._timeout_s if timeout_s is None else timeout_s
        connect = None if self._connect_timeout_s is None else min(total, self._connect_timeout_s)
        return aiohttp.ClientTimeout(total=total, connect=connect)

    def _session_for_request(self) -> aiohttp.ClientSession:
        # Opened on first use so the session is created inside the running event loop.
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        """Close the aiohttp session if this object opened it."""
        if self._session is not None and self._owns_session:
            await self._session.close()
        if self._owns_session:
            self._session = None

    async def __aenter__(self) -> CloudSession:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()
