"""The agent's uploader, in the shape of litestream's replica: `sync_once()` + a monitor loop.

`sync_once()` does one bounded pass: claim the oldest queued items (FIFO by seq, marked `sending`), post
them as one signed batch, apply the per-item results (accepted/duplicate → acked, rejected → quarantined
with its error). Items move only on a result received from the cloud; anything else sends them back to
`queued`. "Nothing to do" is a result, not an error. The monitor waits on a timer OR a kick (a sale
queued, the network back) and retries failures with tenacity's jittered exponential backoff to a cap; a
fresh retry loop per pass means the backoff resets on success.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, cast

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_random_exponential
from ulid import ULID

from sync.batch import OutboxItem, encode_batch, item_wire_bytes
from sync.errors import BatchRejected, CloudNotTrusted, SyncError, TransientUploadError
from sync.models import BatchResponse, ItemError
from sync.results import ItemOutcome, SyncResult, judge, rejection_text
from sync.upload_telemetry import batch_span, count_outcomes
from sync.wire import MAX_BATCH_BYTES, MAX_BATCH_ITEMS

log = logging.getLogger(__name__)
_SHRINK_STATUSES = frozenset({400, 413, 422})


class Outbox(Protocol):
    """Storage the uploader drains; every method commits before it returns."""

    async def reset_sending(self) -> int: ...
    async def claim(self, max_items: int, max_bytes: int) -> list[OutboxItem]: ...
    async def release(self, local_ids: Sequence[str], error: str, *, connected: bool) -> None: ...
    async def apply_results(self, outcomes: Sequence[ItemOutcome], release: Sequence[str],
                            server_time: int | None, sent_at: int) -> None: ...
    async def pending_count(self) -> int: ...


class BatchSender(Protocol):
    """Posts one encoded batch; raises TransientUploadError or BatchRejected."""

    async def send(self, body: bytes) -> BatchResponse: ...


@dataclass(frozen=True, slots=True)
class UploaderConfig:
    """Timings and limits of the uploader."""

    interval: float = 30.0
    backoff_base: float = 0.5
    backoff_cap: float = 60.0
    max_items: int = MAX_BATCH_ITEMS
    max_bytes: int = MAX_BATCH_BYTES
    batches_per_pass: int = 20  # a monitor pass is bounded: ≤ 10,000 items, then the loop looks again
    probe_interval: float = 5.0  # while offline: how often to check whether the network is back


@dataclass(slots=True)
class UploaderState:
    """In-memory status for /api/status (the durable part lives in the outbox)."""

    connected: bool | None = None
    last_error: str | None = None
    last_success_at: float | None = None
    retry_in: float | None = None
    running: bool = False
    last_pass: SyncResult = field(default_factory=SyncResult)


class Uploader:
    """Drains an Outbox through a BatchSender; one pass at a time."""

    def __init__(self, outbox: Outbox, sender: BatchSender, device_id: str,
                 config: UploaderConfig | None = None, clock: Callable[[], float] = time.time, *,
                 documents: Callable[[], Awaitable[SyncResult]] | None = None) -> None:
        self._outbox, self._sender, self._device_id = outbox, sender, device_id
        self._documents = documents  # e.g. the settlement upload: after the chain, in the same pass
        self._config = config or UploaderConfig()
        self._clock = clock
        self._lock = asyncio.Lock()
        self._kick = asyncio.Event()
        self._limit = self._config.max_items
        self._unsettled = False
        self.state = UploaderState()

    @property
    def device_id(self) -> str:
        """The device whose items this uploader sends."""
        return self._device_id

    def kick(self) -> None:
        """Start a pass now (a sale was queued, the network came back); safe from any coroutine."""
        self._kick.set()

    async def sync_once(self) -> SyncResult:
        """One bounded pass of at most one batch; raises TransientUploadError / BatchRejected."""
        return await self.drain(max_batches=1)

    async def drain(self, max_batches: int = 1000) -> SyncResult:
        """Up to `max_batches` batches, FIFO, one at a time on the wire; stops when nothing is queued.

        Pipelined: while batch k is in flight, batch k-1's results are committed and batch k+1 is claimed,
        so the device's fsyncs overlap the network and the cloud's work. Sends stay strictly in order.
        """
        async with self._lock:
            if self._unsettled:  # a pass ended abnormally (cancelled, local fault): nothing is in flight now
                await self._outbox.reset_sending()
            self._unsettled = True
            total, applying = SyncResult(), None
            post: asyncio.Future[tuple[BatchResponse, int]] | None = None
            try:
                items = await self._claim()
                for n in range(max_batches):
                    items, quarantined = await self._without_corrupt(items)
                    total = total + quarantined
                    if not items:
                        break
                    post = asyncio.ensure_future(self._post(items))
                    if applying is not None:
                        total, applying = total + await applying, None
                    prefetch = await self._claim() if n + 1 < max_batches else []
                    try:
                        response, sent_at = await post
                    except SyncError as err:
                        await self._outbox.release([it.local_id for it in prefetch], str(err),
                                                   connected=isinstance(err, BatchRejected))
                        total = total + await self._on_send_error(items, err)
                        items = await self._claim() if n + 1 < max_batches else []
                        continue
                    applying = asyncio.ensure_future(self._apply(items, response, sent_at))
                    items = prefetch
            finally:
                if post is not None and not post.done():
                    post.cancel()  # an orphan send would never be applied; `sending` rows get reset
                if applying is not None:
                    total = total + await applying
                self.state.last_pass = total  # what got through, even when the pass then failed
            self._unsettled = False
            if self._documents is not None:  # a failure here is retried with the pass's backoff
                total = total + await self._documents()
            return total + SyncResult(pending=await self._outbox.pending_count())

    async def _claim(self) -> list[OutboxItem]:
        return await self._outbox.claim(self._limit, self._config.max_bytes)

    async def _post(self, items: list[OutboxItem]) -> tuple[BatchResponse, int]:
        """Encode and send; signed by the sender at send time. No storage is touched here."""
        sent_at = int(self._clock() * 1000)
        body = encode_batch(str(ULID()), self._device_id, sent_at, [item_wire_bytes(it) for it in items])
        with batch_span(items, self._device_id, len(body)):
            return await self._sender.send(body), sent_at

    async def _on_send_error(self, items: list[OutboxItem], err: SyncError) -> SyncResult:
        if isinstance(err, BatchRejected):
            return await self._on_batch_rejected(items, err)
        connected = isinstance(err, TransientUploadError) and err.status is not None
        await self._outbox.release([it.local_id for it in items], str(err), connected=connected)
        self._note_failure(str(err), connected=connected)
        raise err

    async def _apply(self, items: list[OutboxItem], response: BatchResponse, sent_at: int) -> SyncResult:
        verdicts = judge(items, response)
        count_outcomes(verdicts.outcomes, len(verdicts.missing))
        await self._outbox.apply_results(verdicts.outcomes, verdicts.missing, response.server_time, sent_at)
        self._limit = self._config.max_items
        self.state.connected, self.state.last_error = True, None
        self.state.last_success_at = self._clock()
        if verdicts.missing:
            log.warning("sync: %d item(s) had no usable result and were re-queued", len(verdicts.missing))
        return verdicts.result

    async def _without_corrupt(self, items: list[OutboxItem]) -> tuple[list[OutboxItem], SyncResult]:
        """Items whose stored JSON is unusable never leave the device: quarantined here, the rest go on."""
        corrupt = []
        for it in items:
            try:
                item_wire_bytes(it)
            except ValueError:
                corrupt.append(it.local_id)
        if not corrupt:
            return items, SyncResult()
        error = rejection_text(
            ItemError(code="corrupt_local_item", message="stored item is not a JSON object"))
        outcomes = [ItemOutcome(lid, "rejected", None, error) for lid in corrupt]
        await self._outbox.apply_results(outcomes, [], None, int(self._clock() * 1000))
        return [it for it in items if it.local_id not in set(corrupt)], SyncResult(rejected=len(corrupt))

    async def _on_batch_rejected(self, items: list[OutboxItem], err: BatchRejected) -> SyncResult:
        """400/413/422: halve the batch to isolate the item at fault; one item alone → quarantine it."""
        ids = [it.local_id for it in items]
        if err.status not in _SHRINK_STATUSES:
            await self._outbox.release(ids, str(err), connected=True)
            self._note_failure(str(err), connected=True)
            raise err
        if len(items) > 1:
            await self._outbox.release(ids, str(err), connected=True)
            self._limit = max(1, len(items) // 2)
            return SyncResult(sent=len(items), pending=await self._outbox.pending_count())
        error = ItemError(code=err.code or f"batch_{err.status}", message=str(err))
        outcome = ItemOutcome(ids[0], "rejected", None, rejection_text(error))
        await self._outbox.apply_results([outcome], [], None, int(self._clock() * 1000))
        self._limit = self._config.max_items
        return SyncResult(sent=1, rejected=1, pending=await self._outbox.pending_count())

    def _note_failure(self, message: str, *, connected: bool) -> None:
        self.state.connected, self.state.last_error = connected, message
        log.warning("sync: %s", message)

    # -- monitor ------------------------------------------------------------------------------------------
    async def run(self, probe: Callable[[], Awaitable[bool]] | None = None) -> None:
        """Monitor forever (cancel to stop): re-queue crashed sends, then pass on every tick or kick.

        `probe` (e.g. SyncClient.probe): while the last attempt found no network, it is polled every
        `probe_interval` and a success kicks a pass at once, instead of waiting out the backoff.
        """
        self.state.running = True
        watcher = asyncio.ensure_future(self._watch_network(probe)) if probe is not None else None
        try:
            requeued = await self._outbox.reset_sending()
            if requeued:
                log.info("sync: %d item(s) left in 'sending' by a previous run were re-queued", requeued)
            while True:
                try:
                    result = await self._pass_with_backoff()
                except Exception:  # a local fault (disk, bug) must not end the monitor: log, wait, go on
                    task = asyncio.current_task()
                    if task is not None and task.cancelling():
                        raise  # being stopped: an error raised while unwinding must not swallow the cancel
                    log.exception("sync: pass failed on the device side")
                    await self._sleep(self._config.backoff_cap)
                    continue
                if result.progressed and result.pending:
                    continue
                await self._sleep(self._config.interval)
        finally:
            self.state.running = False
            if watcher is not None:
                watcher.cancel()

    async def _watch_network(self, probe: Callable[[], Awaitable[bool]]) -> None:
        while True:
            await asyncio.sleep(self._config.probe_interval)
            if self.state.connected is False and await probe():
                log.info("sync: the cloud answers again; starting a pass now")
                self.kick()

    async def _pass_with_backoff(self) -> SyncResult:
        jitter = wait_random_exponential(multiplier=self._config.backoff_base, max=self._config.backoff_cap)

        def wait(state: RetryCallState) -> float:
            delay = float(jitter(state))
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, TransientUploadError) and exc.retry_after:
                delay = max(delay, min(exc.retry_after, self._config.backoff_cap))
            if isinstance(exc, CloudNotTrusted):  # a certificate is not fixed in seconds: wait the longest
                delay = self._config.backoff_cap
            self.state.retry_in = delay
            return delay

        retrying = AsyncRetrying(retry=retry_if_exception_type(SyncError), wait=wait, sleep=self._sleep,
                                 reraise=True)
        result = cast(SyncResult, await retrying(self.drain, self._config.batches_per_pass))
        self.state.retry_in = None
        return result

    async def _sleep(self, seconds: float) -> None:
        """Wait for the timer or a kick, whichever comes first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._kick.wait(), timeout=seconds)
        self._kick.clear()
