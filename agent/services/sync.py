"""The agent's sync service: the agent's outbox, the signed SyncClient and the sync.uploader.Uploader monitor
(a bounded pass at a time, on a timer or a kick; docs/sync-protocol.md).

Bootstrap: `SyncService.build(database, credential, timeout_s)`, `start()` (monitor task), `kick()` after each
sale is committed, `await close()` at shutdown. It knows no HTTP route and no SQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import asdict
from typing import Any

from agent.adapters.store.database import AgentDatabase
from agent.adapters.store.outbox import SqliteOutbox
from sync.client import DeviceCredential, SyncClient
from sync.errors import SyncError
from sync.results import SyncResult
from sync.uploader import Uploader, UploaderConfig

log = logging.getLogger(__name__)
SYNC_NOW_MAX_BATCHES = 200  # ≤ 100,000 items per "sync now", so the call is bounded


class SyncService:
    """Holds the uploader (None when the device is not enrolled) and its monitor task."""

    def __init__(self, outbox: SqliteOutbox | None, client: SyncClient | None, uploader: Uploader | None,
                 disabled_reason: str | None = None) -> None:
        self.outbox, self.client, self.uploader = outbox, client, uploader
        self.disabled_reason = disabled_reason
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def build(cls, database: AgentDatabase, found: tuple[DeviceCredential, str] | str, timeout_s: float,
              config: UploaderConfig | None = None) -> SyncService:
        """The service over an open database, for a credential and cloud URL (or the reason there is none)."""
        if isinstance(found, str):
            log.warning("sync disabled: %s", found)
            return cls(None, None, None, found)
        credential, url = found
        outbox = SqliteOutbox(database, credential.device_id)
        client = SyncClient(url, credential, timeout=timeout_s)
        return cls(outbox, client, Uploader(outbox, client, credential.device_id, config))

    def start(self) -> None:
        """Start the monitor loop (no-op when not enrolled)."""
        if self.uploader is not None and self._task is None:
            probe = self.client.probe if self.client is not None else None
            self._task = asyncio.create_task(self.uploader.run(probe), name="sync-monitor")

    def kick(self) -> None:
        """A sale was queued or the network came back: pass now instead of at the next tick."""
        if self.uploader is not None:
            self.uploader.kick()

    async def sync_now(self, max_batches: int = SYNC_NOW_MAX_BATCHES) -> dict[str, Any]:
        """Drain now and report sent/acked/rejected/duplicates/pending (and the error if a batch failed)."""
        if self.uploader is None:
            return {"ok": False, "error": self.disabled_reason, **asdict(SyncResult())}
        try:
            result = await self.uploader.drain(max_batches)
        except SyncError as err:  # report what got through before the failure, and what is left
            pending = await self.outbox.pending_count() if self.outbox else 0
            done = self.uploader.state.last_pass
            return {"ok": False, "error": str(err), **asdict(done + SyncResult(pending=pending))}
        return {"ok": True, "error": None, **asdict(result)}

    async def status(self) -> dict[str, Any]:
        """The sync block of /api/status."""
        if self.outbox is None or self.uploader is None:
            return {"enabled": False, "reason": self.disabled_reason}
        state = self.uploader.state
        return {"enabled": True, "device_id": self.uploader.device_id, "running": state.running,
                "retry_in_s": state.retry_in, **await self.outbox.status()}

    async def close(self) -> None:
        """Stop the monitor, then close the client (the outbox lives in the agent database)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.client is not None:
            await self.client.close()
