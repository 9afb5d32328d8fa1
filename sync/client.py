"""`SyncClient`: posts one encoded batch to `POST /v1/sync/batches`, signed at send time (DESIGN §3, §6).

Every library failure is translated here, once: network errors, 5xx and 429 → TransientUploadError,
any other non-200 → BatchRejected.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp
from pydantic import ValidationError

from sync.errors import BatchRejected, TransientUploadError
from sync.models import BatchResponse
from sync.signing import authorization_header

BATCHES_PATH = "/v1/sync/batches"


@dataclass(frozen=True, slots=True)
class DeviceCredential:
    """What enrollment gave the device; `secret_key` is never printed (repr hides it)."""

    device_id: str
    api_key: str
    secret_key: str = field(repr=False)


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _error_code(payload: object) -> str:
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        return str(payload["error"].get("code", ""))
    return ""


class SyncClient:
    """The uploader's `BatchSender` over HTTP; one aiohttp session, reused."""

    def __init__(self, base_url: str, credential: DeviceCredential, *, timeout: float = 30.0,
                 clock: Callable[[], float] = time.time,
                 session: aiohttp.ClientSession | None = None) -> None:
        self._url = base_url.rstrip("/") + BATCHES_PATH
        self._health = base_url.rstrip("/") + "/health"
        self._path = urlsplit(self._url).path
        self._credential = credential
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._clock = clock
        self._session = session
        self._owns_session = session is None

    @property
    def device_id(self) -> str:
        """The device this client speaks for."""
        return self._credential.device_id

    async def send(self, body: bytes) -> BatchResponse:
        """POST one batch body; returns the parsed per-item results or raises a SyncError."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        cred = self._credential
        now = int(self._clock())
        auth = authorization_header(cred.api_key, cred.secret_key, "POST", self._path, now, body)
        headers = {"Authorization": auth, "Content-Type": "application/json"}
        post = self._session.post
        try:
            async with post(self._url, data=body, headers=headers, timeout=self._timeout) as resp:
                raw = await resp.read()
                return self._interpret(resp.status, resp.headers.get("Retry-After"), raw)
        except (TimeoutError, aiohttp.ClientError, OSError) as err:
            raise TransientUploadError(f"network error: {type(err).__name__}: {err}") from err

    def _interpret(self, status: int, retry_after: str | None, raw: bytes) -> BatchResponse:
        if status == 200:
            try:
                return BatchResponse.model_validate_json(raw)
            except ValidationError as err:
                raise TransientUploadError("malformed batch response from the cloud", status=status) from err
        if status == 429 or status >= 500:
            raise TransientUploadError(f"cloud answered {status}", status=status,
                                       retry_after=_retry_after(retry_after))
        try:
            payload: object = json.loads(raw)
        except ValueError:
            payload = None
        code = _error_code(payload)
        raise BatchRejected(f"cloud refused the batch: {status} {code}".strip(), status=status, code=code)

    async def probe(self) -> bool:
        """Does the cloud answer at all (GET /health, any status below 500)? Used to notice the network
        coming back while the uploader backs off; never raises."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with self._session.get(self._health, timeout=aiohttp.ClientTimeout(total=3)) as resp:
                return resp.status < 500
        except (TimeoutError, aiohttp.ClientError, OSError):
            return False

    async def close(self) -> None:
        """Close the session if this client opened it."""
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None
