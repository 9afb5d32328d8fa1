"""A small HMAC-signing client of the cloud PaymentIntent API (DESIGN §3, §5), used for QR MPM sales.

Each request is signed at send time with the device credential; POSTs carry an Idempotency-Key so a retry
after a lost answer cannot create a second intent.
"""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp

from agent.domain.errors import AgentError, UpstreamUnavailable
from sync.client import DeviceCredential
from sync.signing import authorization_header


class CloudRefused(AgentError):
    """The cloud answered 4xx: the request itself was refused."""

    status = 502
    type = "api_error"


class CloudClient:
    """Signed JSON requests to the cloud; network trouble and 5xx become UpstreamUnavailable."""

    def __init__(self, base_url: str, credentials: DeviceCredential, session: aiohttp.ClientSession,
                 timeout_s: float) -> None:
        self._base = base_url.rstrip("/")
        self._cred = credentials
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, connect=min(timeout_s, 3.0))

    async def request(self, method: str, path: str, body: dict[str, Any] | None = None,
                      idempotency_key: str | None = None) -> dict[str, Any]:
        """Send one request signed now; return the JSON answer of a 2xx."""
        raw = b"" if body is None else json.dumps(body, separators=(",", ":")).encode("utf-8")
        headers = {"Authorization": authorization_header(
            self._cred.api_key, self._cred.secret_key, method, path, int(time.time()), raw)}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        try:
            async with self._session.request(method, self._base + path, data=raw or None, headers=headers,
                                             timeout=self._timeout) as resp:
                text = await resp.text()
                status = resp.status
        except (TimeoutError, aiohttp.ClientError, OSError) as err:
            raise _unreachable() from err
        return _answer(status, text)


def _answer(status: int, text: str) -> dict[str, Any]:
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    if 200 <= status < 300:
        return data
    found = data.get("error")
    err: dict[str, Any] = found if isinstance(found, dict) else {}
    message = str(err.get("message", "")) or f"HTTP {status}"
    if status >= 500 or status == 429:
        raise UpstreamUnavailable("cloud_unavailable", f"The payment cloud is not available right now "
                                  f"({message}). Take cash or card instead, or try again in a minute.")
    raise CloudRefused("cloud_refused", f"The payment cloud refused this payment: {message}",
                       param=err.get("param") if isinstance(err.get("param"), str) else None)


def _unreachable() -> UpstreamUnavailable:
    return UpstreamUnavailable(
        "cloud_unreachable",
        "QR payments need the network, and the payment cloud cannot be reached. Take cash or card instead; "
        "those work offline.",
    )
