"""`SyncClient`: posts one encoded batch to `POST /v1/sync/batches` (and a stored Z report to
`POST /v1/settlements`) through the one `CloudSession`, which signs it at send time (docs/sync-protocol.md).

What each answer means for the uploader is decided here, once: network errors (CloudUnreachable), 5xx and 429
→ TransientUploadError, any other non-200 → BatchRejected.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from pydantic import ValidationError

from sync.errors import BatchRejected, CloudUnreachable, TransientUploadError
from sync.http import CloudReply, CloudSession, DeviceCredential
from sync.models import BatchResponse
from sync.tls import CloudTrust

__all__ = ["BATCHES_PATH", "DeviceCredential", "SyncClient"]  # DeviceCredential: re-exported for old imports

BATCHES_PATH = "/v1/sync/batches"
SETTLEMENTS_PATH = "/v1/settlements"
HEALTH_PATH = "/health"
PROBE_TIMEOUT_S = 3.0


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _error_code(payload: object) -> str:
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        return str(payload["error"].get("code", ""))
    return ""


def _refusal(reply: CloudReply, what: str) -> TransientUploadError | BatchRejected:
    """A non-success answer: 429 and 5xx are transient (retried with backoff), any other is a refusal."""
    status = reply.status
    if status == 429 or status >= 500:
        return TransientUploadError(f"cloud answered {status}", status=status,
                                    retry_after=_retry_after(reply.retry_after))
    try:
        payload: object = json.loads(reply.body)
    except ValueError:
        payload = None
    code = _error_code(payload)
    return BatchRejected(f"cloud refused the {what}: {status} {code}".strip(), status=status, code=code)


class SyncClient:
    """The uploader's `BatchSender` over HTTP; one CloudSession, reused."""

    def __init__(self, base_url: str, credential: DeviceCredential, *, timeout: float = 30.0,
                 clock: Callable[[], float] = time.time,
                 session: aiohttp.ClientSession | None = None, trust: CloudTrust | None = None) -> None:
        self._credential = credential
        self._cloud = CloudSession(base_url, credential, timeout_s=timeout, clock=clock, session=session,
                                   trust=trust)

    @property
    def device_id(self) -> str:
        """The device this client speaks for."""
        return self._credential.device_id

    async def send(self, body: bytes) -> BatchResponse:
        """POST one batch body; returns the parsed per-item results or raises a SyncError."""
        return self._interpret(await self._cloud.request("POST", BATCHES_PATH, body=body))

    async def send_settlement(self, body: bytes) -> dict[str, Any]:
        """POST one stored Z report: the cloud's settlement object (201 new, 200 the same body again), or a
        SyncError (BatchRejected for a refusal such as 409 settlement_conflict)."""
        reply = await self._cloud.request("POST", SETTLEMENTS_PATH, body=body)
        if reply.status in (200, 201):
            try:
                data: object = json.loads(reply.body)
            except ValueError:
                data = None
            if isinstance(data, dict) and data.get("object") == "settlement":
                return data
            raise TransientUploadError("malformed settlement response from the cloud", status=reply.status)
        raise _refusal(reply, "settlement")

    def _interpret(self, reply: CloudReply) -> BatchResponse:
        status, raw = reply.status, reply.body
        if status == 200:
            try:
                return BatchResponse.model_validate_json(raw)
            except ValidationError as err:
                raise TransientUploadError("malformed batch response from the cloud", status=status) from err
        raise _refusal(reply, "batch")

    async def probe(self) -> bool:
        """Does the cloud answer at all (GET /health, unsigned, any status below 500)? Used to notice the
        network coming back while the uploader backs off; never raises."""
        try:
            reply = await self._cloud.request("GET", HEALTH_PATH, signed=False, timeout_s=PROBE_TIMEOUT_S)
        except CloudUnreachable:
            return False
        return reply.status < 500

    async def close(self) -> None:
        """Close the session if this client opened it."""
        await self._cloud.close()
