"""Sending the device's stored Z reports to `POST /v1/settlements` (docs/sync-protocol.md, "Settlements").

One bounded pass: the oldest queued reports, one request each (the body is the stored report, so a resend
after a lost answer is the same body again, which the cloud answers 200 with the same object). 200/201 →
`acked`; a refusal other than 401 (e.g. 409 settlement_conflict, 422) → `rejected` with the cloud's error,
shown to the manager; 401, 429, 5xx and network trouble leave the report queued and raise, so the uploader's
backoff retries the pass. The uploader runs this after each drain of the sale chain.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, Protocol

from sync.errors import BatchRejected
from sync.models import ItemError
from sync.results import SyncResult, rejection_text

SETTLEMENTS_PER_PASS = 20
_KEEP_QUEUED = frozenset({401})  # the credential, not the report: fixed by re-enrolling, then sent again


class SettlementOutbox(Protocol):
    """Stored Z reports not yet sent; every method commits before it returns."""

    async def queued_settlements(self, limit: int) -> Sequence[tuple[str, bytes]]: ...
    async def settlement_done(self, settlement_id: str, state: Literal["acked", "rejected"],
                              error: str | None) -> None: ...


class SettlementUploader:
    """Posts queued settlements through `send` (SyncClient.send_settlement)."""

    def __init__(self, outbox: SettlementOutbox, send: Callable[[bytes], Awaitable[dict[str, Any]]],
                 per_pass: int = SETTLEMENTS_PER_PASS) -> None:
        self._outbox, self._send, self._per_pass = outbox, send, per_pass

    async def upload(self) -> SyncResult:
        """One pass; raises TransientUploadError (or BatchRejected 401) with the rest left queued."""
        acked = rejected = sent = 0
        for settlement_id, body in await self._outbox.queued_settlements(self._per_pass):
            sent += 1
            try:
                await self._send(body)
            except BatchRejected as err:
                if err.status in _KEEP_QUEUED:
                    raise
                error = ItemError(code=err.code or f"http_{err.status}", message=str(err))
                await self._outbox.settlement_done(settlement_id, "rejected", rejection_text(error))
                rejected += 1
                continue
            await self._outbox.settlement_done(settlement_id, "acked", None)
            acked += 1
        return SyncResult(sent=sent, acked=acked, rejected=rejected)
