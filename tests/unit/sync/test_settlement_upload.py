"""The settlement upload pass (sync/settlement_upload.py) over an in-memory outbox: acked on success, rejected
with the cloud's error on a refusal, left queued (and raised, for the uploader's backoff) otherwise."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from sync.errors import BatchRejected, CloudUnreachable, SyncError, TransientUploadError
from sync.settlement_upload import SettlementUploader


class MemoryOutbox:
    """Queued settlements in a dict; `done` records what was marked."""

    def __init__(self, ids: Sequence[str]) -> None:
        self.queued = {sid: f'{{"settlement_id":"{sid}"}}'.encode() for sid in ids}
        self.done: dict[str, tuple[str, str | None]] = {}

    async def queued_settlements(self, limit: int) -> list[tuple[str, bytes]]:
        return list(self.queued.items())[:limit]

    async def settlement_done(self, settlement_id: str, state: str, error: str | None) -> None:
        self.queued.pop(settlement_id)
        self.done[settlement_id] = (state, error)


class Cloud:
    """Answers each body with the next outcome: an exception to raise, or the settlement object."""

    def __init__(self, *outcomes: SyncError | None) -> None:
        self.outcomes = list(outcomes)
        self.bodies: list[bytes] = []

    async def send(self, body: bytes) -> dict[str, object]:
        self.bodies.append(body)
        outcome = self.outcomes.pop(0)
        if outcome is not None:
            raise outcome
        return {"object": "settlement"}


class TestSettlementUploader:
    async def test_acked_and_rejected(self) -> None:
        """201 → acked; 409 settlement_conflict → rejected with the code; both leave the queue."""
        outbox = MemoryOutbox(["st_1", "st_2"])
        cloud = Cloud(None, BatchRejected("refused", status=409, code="settlement_conflict"))
        result = await SettlementUploader(outbox, cloud.send).upload()
        assert (result.sent, result.acked, result.rejected) == (2, 1, 1)
        assert outbox.done["st_1"] == ("acked", None)
        state, error = outbox.done["st_2"]
        assert state == "rejected" and '"code":"settlement_conflict"' in str(error)
        assert cloud.bodies == [b'{"settlement_id":"st_1"}', b'{"settlement_id":"st_2"}']

    @pytest.mark.parametrize("error", [TransientUploadError("503", status=503), CloudUnreachable("down"),
                                       BatchRejected("auth", status=401, code="invalid_signature")])
    async def test_transient_or_auth_stays_queued(self, error: SyncError) -> None:
        """5xx, no network, 401: the report stays queued and the error reaches the uploader's backoff."""
        outbox = MemoryOutbox(["st_1", "st_2"])
        with pytest.raises(type(error)):
            await SettlementUploader(outbox, Cloud(error).send).upload()
        assert set(outbox.queued) == {"st_1", "st_2"} and outbox.done == {}

    async def test_nothing_queued_is_a_result(self) -> None:
        """No report waiting: nothing sent, no error."""
        result = await SettlementUploader(MemoryOutbox([]), Cloud().send).upload()
        assert (result.sent, result.acked) == (0, 0)
