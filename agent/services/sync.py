"""The agent's sync service: the agent's outbox, the signed SyncClient and the sync.uploader.Uploader monitor
(a bounded pass at a time, on a timer or a kick; docs/sync-protocol.md).

Bootstrap: `SyncService.build(database, credential, timeout_s)`, `start()` (monitor task and the cloud probe),
`kick()` after each sale is committed, `await close()` at shutdown. It knows no HTTP route and no SQL.

"Online" is defined from the last real contact with the cloud (docs/sync-protocol.md, "Online"): a batch the
cloud answered, or a `GET /health` probe that got an answer, within ONLINE_WINDOW_MS, and no failed attempt
since. The probe runs at start and then every PROBE_INTERVAL_S unless a batch already proved contact.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from agent.adapters.store.database import AgentDatabase
from agent.adapters.store.outbox import SqliteOutbox
from agent.adapters.store.settlements import SettlementOutbox
from sync.client import DeviceCredential, SyncClient
from sync.clock import wall_clock_ms
from sync.errors import BatchRejected, SyncError
from sync.models import BatchResponse
from sync.results import SyncResult
from sync.settlement_upload import SettlementUploader
from sync.tls import CloudTrust
from sync.uploader import Uploader, UploaderConfig

log = logging.getLogger(__name__)
SYNC_NOW_MAX_BATCHES = 200  # ≤ 100,000 items per "sync now", so the call is bounded
PROBE_INTERVAL_S = 30.0  # one GET /health per 30 s at most when nothing else proved contact (no retry storm)
ONLINE_WINDOW_MS = 90_000  # contact older than this no longer counts: the terminal is "offline"
_ITEM_FAULTS = frozenset({400, 413, 422})  # the cloud answered, refusing one item: still contact


@dataclass(slots=True)
class Contact:
    """When the cloud last answered and when an attempt last failed (in-memory, unix ms)."""

    clock_ms: Callable[[], int] = wall_clock_ms
    reached_at: int | None = None
    lost_at: int | None = None

    def reached(self) -> None:
        """The cloud answered."""
        self.reached_at = self.clock_ms()

    def lost(self) -> None:
        """An attempt got no usable answer (network, timeout, 5xx, 429, auth)."""
        self.lost_at = self.clock_ms()

    def online(self) -> bool:
        """Contact within ONLINE_WINDOW_MS and no failure after it."""
        if self.reached_at is None or self.clock_ms() - self.reached_at > ONLINE_WINDOW_MS:
            return False
        return self.lost_at is None or self.lost_at <= self.reached_at

    def fresh(self, within_ms: int) -> bool:
        """Whether some attempt (either outcome) happened within the last `within_ms`."""
        last = max(self.reached_at or 0, self.lost_at or 0)
        return last > 0 and self.clock_ms() - last < within_ms


class _TrackedSender:
    """The SyncClient as the uploader's BatchSender, noting each answer (or its absence) as contact."""

    def __init__(self, client: SyncClient, contact: Contact) -> None:
        self._client, self._contact = client, contact

    async def send(self, body: bytes) -> BatchResponse:
        try:
            response = await self._client.send(body)
        except BatchRejected as err:
            (self._contact.reached if err.status in _ITEM_FAULTS else self._contact.lost)()
            raise
        except SyncError:
            self._contact.lost()
            raise
        self._contact.reached()
        return response


class SyncService:
    """Holds the uploader (None when the device is not enrolled) and its monitor task."""

    def __init__(self, outbox: SqliteOutbox | None, client: SyncClient | None, uploader: Uploader | None,
                 disabled_reason: str | None = None, contact: Contact | None = None) -> None:
        self.outbox, self.client, self.uploader = outbox, client, uploader
        self.disabled_reason = disabled_reason
        self.contact = contact or Contact()
        self._task: asyncio.Task[None] | None = None
        self._prober: asyncio.Task[None] | None = None

    @classmethod
    def build(cls, database: AgentDatabase, found: tuple[DeviceCredential, str] | str, timeout_s: float,
              config: UploaderConfig | None = None, trust: CloudTrust | None = None) -> SyncService:
        """The service over an open database, for a credential and cloud URL (or the reason there is none)."""
        if isinstance(found, str):
            log.warning("sync disabled: %s", found)
            return cls(None, None, None, found)
        credential, url = found
        outbox = SqliteOutbox(database, credential.device_id)
        client = SyncClient(url, credential, timeout=timeout_s, trust=trust)
        contact = Contact()
        settlements = SettlementUploader(SettlementOutbox(database, credential.device_id, wall_clock_ms),
                                         client.send_settlement)
        uploader = Uploader(outbox, _TrackedSender(client, contact), credential.device_id, config,
                            documents=settlements.upload)
        return cls(outbox, client, uploader, contact=contact)

    def start(self) -> None:
        """Start the monitor loop and the cloud probe (no-op when not enrolled)."""
        if self.uploader is not None and self._task is None:
            self._task = asyncio.create_task(self.uploader.run(self.probe), name="sync-monitor")
            self._prober = asyncio.create_task(self._probe_loop(), name="sync-probe")

    def online(self) -> bool:
        """Whether the cloud answered recently (the definition is in the module docstring)."""
        return self.uploader is not None and self.contact.online()

    async def probe(self) -> bool:
        """One bounded GET /health of the configured cloud; the answer is noted as contact or loss."""
        if self.client is None:
            return False
        answered = await self.client.probe()
        (self.contact.reached if answered else self.contact.lost)()
        return answered

    async def _probe_loop(self) -> None:
        while True:
            if not self.contact.fresh(int(PROBE_INTERVAL_S * 1000)):
                try:
                    await self.probe()
                except Exception:  # a bug in the probe must not end it; the uploader goes on regardless
                    log.exception("sync: cloud probe failed")
            await asyncio.sleep(PROBE_INTERVAL_S)

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
                "retry_in_s": state.retry_in, **await self.outbox.status(), "online": self.online(),
                "contact_at": self.contact.reached_at, "contact_lost_at": self.contact.lost_at}

    async def close(self) -> None:
        """Stop the monitor, then close the client (the outbox lives in the agent database)."""
        for task in (self._prober, self._task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.client is not None:
            await self.client.close()
