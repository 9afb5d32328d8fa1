"""The WebhookSender port over aiohttp: one POST per attempt, guarded against SSRF, bounded in time.

The target's URL is checked again at send time (a literal address never reaches a resolver), and every
address a host name resolves to is checked by the resolver below, right before the connection is made, so a
name that resolves to a private address later (DNS rebinding) is refused too (docs/cloud-api.md#webhooks).
Redirects are not followed: a 3xx is a failed attempt.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from cloud.domain.errors import ValidationFailed
from cloud.domain.webhooks import SendResult, TargetPolicy
from sync.pan import mask_pans

CONNECT_TIMEOUT_S = 3.0
TOTAL_TIMEOUT_S = 10.0
EXCERPT_BYTES = 256


class GuardedResolver(AbstractResolver):
    """Resolves like the default resolver, then keeps only the addresses the policy allows."""

    def __init__(self, policy: TargetPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._inner = inner or ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:  # fmt: skip
        """The allowed addresses of `host`; OSError when none is allowed."""
        found = await self._inner.resolve(host, port, family)
        allowed = [r for r in found if self._policy.address_allowed(r["host"])]
        if not allowed:
            raise OSError(f"{host} resolves to no allowed address")
        return allowed

    async def close(self) -> None:
        """Close the inner resolver."""
        await self._inner.close()


class AiohttpWebhookSender:
    """One shared client session (opened on first use inside the event loop, closed by close())."""

    def __init__(self, policy: TargetPolicy, *, connect_s: float = CONNECT_TIMEOUT_S,
                 total_s: float = TOTAL_TIMEOUT_S) -> None:  # fmt: skip
        self._policy = policy
        self._timeout = aiohttp.ClientTimeout(total=total_s, connect=connect_s, sock_connect=connect_s)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(resolver=GuardedResolver(self._policy), limit=64)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout, trust_env=False)
        return self._session

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> SendResult:
        """POST once; every failure is a result, never an exception."""
        started = time.monotonic()
        try:
            self._policy.check_url(url)
        except ValidationFailed as err:
            return SendResult(None, 0, error=f"target refused: {err.message}")
        try:
            sent = self._open().post(url, data=body, headers=dict(headers), allow_redirects=False)
            async with sent as resp:
                head = await resp.content.read(EXCERPT_BYTES)
                return SendResult(resp.status, _ms_since(started), _excerpt(head))
        except TimeoutError:
            return SendResult(None, _ms_since(started), error="timeout")
        except (aiohttp.ClientError, OSError) as err:
            return SendResult(None, _ms_since(started), error=_error_text(err))

    async def close(self) -> None:
        """Close the session (idempotent)."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _excerpt(head: bytes) -> str:
    # What a receiver answers is stored in the delivery log: card-number-looking runs are masked first.
    return mask_pans(head.decode("utf-8", "replace"))


def _error_text(err: BaseException) -> str:
    text: Any = str(err) or type(err).__name__
    return mask_pans(f"{type(err).__name__}: {text}")[:200]
