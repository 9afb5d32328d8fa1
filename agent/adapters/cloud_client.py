"""The agent's client of the cloud PaymentIntent API (docs/cloud-api.md), used for QR MPM sales.

A thin adapter over `sync.http.CloudSession`, which signs each request at send time; POSTs carry an
Idempotency-Key so a retry after a lost answer cannot create a second intent. Here, and only here, the cloud's
answers become agent errors: CloudRefused (4xx) and UpstreamUnavailable (network, 429, 5xx).
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from agent.domain.errors import AgentError, UpstreamUnavailable
from sync.errors import CloudNotTrusted, CloudUnreachable
from sync.http import CloudSession, DeviceCredential, encode_json
from sync.tls import CloudTrust

CONNECT_TIMEOUT_S = 3.0  # fail fast at the till: a QR sale is waiting while we connect


class CloudRefused(AgentError):
    """The cloud answered 4xx: the request itself was refused. `cloud_code` is the cloud's own error code
    (docs/cloud-api.md#errors), for callers that tell a cashier which rule refused it."""

    status = 502
    type = "api_error"
    cloud_code: str | None = None


class CloudClient:
    """Signed JSON requests to the cloud; network trouble and 5xx become UpstreamUnavailable."""

    def __init__(self, base_url: str, credentials: DeviceCredential, session: aiohttp.ClientSession,
                 timeout_s: float, trust: CloudTrust | None = None) -> None:
        self._cloud = CloudSession(base_url, credentials, timeout_s=timeout_s,
                                   connect_timeout_s=CONNECT_TIMEOUT_S, session=session, trust=trust)

    async def request(self, method: str, path: str, body: dict[str, Any] | None = None,
                      idempotency_key: str | None = None) -> dict[str, Any]:
        """Send one request signed now; return the JSON answer of a 2xx."""
        raw = None if body is None else encode_json(body)
        try:
            reply = await self._cloud.request(method, path, body=raw, idempotency_key=idempotency_key)
        except CloudNotTrusted as err:
            raise UpstreamUnavailable(
                "cloud_not_trusted", "QR payments are off: the payment cloud's certificate could not be "
                f"verified ({err.reason}); see the status page. Take cash or card instead.") from err
        except CloudUnreachable as err:
            raise _unreachable() from err
        return _answer(reply.status, reply.body)


def _answer(status: int, raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw) if raw else {}
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
    refused = CloudRefused("cloud_refused", f"The payment cloud refused this payment: {message}",
                           param=err.get("param") if isinstance(err.get("param"), str) else None)
    code = err.get("code")
    refused.cloud_code = code if isinstance(code, str) else None
    raise refused


def _unreachable() -> UpstreamUnavailable:
    return UpstreamUnavailable(
        "cloud_unreachable",
        "QR payments need the network, and the payment cloud cannot be reached. Take cash or card instead; "
        "those work offline.",
    )
