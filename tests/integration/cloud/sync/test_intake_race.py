"""Overlapping client retries of one batch on a real server: every answer agrees on every stored item.

A (device_id, local_id) that is stored is answered `accepted` or `duplicate` with its pi_ id in every answer;
contention is a whole-batch 503 with Retry-After, never a per-item reject (docs/sync-protocol.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from cloud.domain.sync import SyncRepository
from cloud.domain.tenants import Credential
from cloud.service.sync_batches import BatchReply, ingest_batch
from cloud.settings import Settings
from cloud.testing import PgwClient, Response, Tenant
from sync.models import SyncBatchEnvelope

from ..conftest import Pgw, PgwFactory
from ..helpers import rows
from .helpers import Chain, enroll, post_batch

COPIES, ITEMS, ROUNDS = 30, 20, 20
SPREAD_S = 0.0005


@pytest.fixture
async def pgw(pgw_factory: PgwFactory, pgw_settings: Settings) -> Pgw:
    """The gateway with a rate limit that every round's requests stay under."""
    return await pgw_factory(pgw_settings.with_changes(rate_limit_per_minute=100_000))


async def _fire(clients: list[PgwClient], chain: Chain) -> list[Response]:
    """One round: the copies start spread over ~15 ms, as retries overlapping a slow first attempt do
    (all at the very same instant, the plans' reads queue up together and rarely straddle a commit)."""
    items = [chain.add() for _ in range(ITEMS)]

    async def copy(n: int, client: PgwClient) -> Response:
        await asyncio.sleep(SPREAD_S * n)
        return await post_batch(client, chain.batch(items))

    return list(await asyncio.gather(*(copy(n, c) for n, c in enumerate(clients))))


def _check_round(answers: list[Response], known: dict[str, str]) -> None:
    """Every 200 names the same pi_ per item; accepted once at most; a 503 is whole-batch with Retry-After."""
    accepted: dict[str, int] = {}
    for answer in answers:
        if answer.status == 503:
            assert answer.body["error"]["code"] == "sync_contention" and "Retry-After" in answer.headers
            continue
        assert answer.status == 200, answer.body
        for result in answer.body["results"]:
            assert result["status"] in ("accepted", "duplicate"), result
            pi = known.setdefault(result["local_id"], result["payment_intent_id"])
            assert result["payment_intent_id"] == pi, result
            if result["status"] == "accepted":
                accepted[result["local_id"]] = accepted.get(result["local_id"], 0) + 1
    assert all(n == 1 for n in accepted.values()), accepted


class TestOverlappingRetries:
    async def test_thirty_copies_never_reject_a_stored_item(self, pgw: Pgw, tenant: Tenant) -> None:
        """30 concurrent copies of a 20-item batch, several rounds: consistent answers, no rejection rows."""
        keys = await enroll(pgw, tenant)
        chain = Chain(keys.device_id)
        connector = aiohttp.TCPConnector(limit=COPIES)
        known: dict[str, str] = {}
        async with aiohttp.ClientSession(connector=connector) as session:
            clients = [PgwClient(session, pgw.url, keys.api_key, keys.secret_key, pgw.clock)] * COPIES
            for _ in range(ROUNDS):
                _check_round(await _fire(clients, chain), known)
        assert rows(pgw.db_path, "SELECT count(*) FROM sync_rejections") == [(0,)]
        stored = dict(rows(pgw.db_path, "SELECT local_id, payment_intent_id FROM sync_items"))
        assert {k: stored.get(k) for k in known} == known
        assert rows(pgw.db_path, "SELECT count(*) FROM payment_intents") == [(len(stored),)]


class _CommitAfterKnown:
    """The real SyncRepository, except that its first `known` read lets another batch commit before it
    returns: the interleaving the stress test above only hits now and then, made certain."""

    def __init__(self, inner: SyncRepository, competitor: Callable[[], Awaitable[Any]]) -> None:
        self._inner, self._competitor = inner, competitor

    async def known(self, device_id: str, local_ids: list[str]) -> tuple[dict[str, str], dict[str, str]]:
        found = await self._inner.known(device_id, local_ids)
        competitor, self._competitor = self._competitor, None  # type: ignore[assignment]
        if competitor is not None:
            await competitor()
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class TestCommitBetweenReads:
    async def test_a_batch_committed_during_the_plan_reads_makes_ours_duplicates(
        self, pgw: Pgw, tenant: Tenant
    ) -> None:
        """Another copy of the batch commits right after our `known` read: we answer duplicate, not
        merchant_ref_id_in_use, and no rejection is stored."""
        keys = await enroll(pgw, tenant)
        chain = Chain(keys.device_id)
        items = [chain.add() for _ in range(ITEMS)]
        caller = await pgw.deps.credentials.resolve(keys.api_key)
        assert isinstance(caller, Credential)

        async def ingest(uow: Any) -> BatchReply:
            envelope = SyncBatchEnvelope.model_validate(chain.batch(items))
            return await ingest_batch(envelope, caller, uow=uow, tenants=pgw.deps.tenants, clock=pgw.clock)

        first: list[BatchReply] = []

        async def competitor() -> None:
            first.append(await ingest(pgw.deps.uow()))

        uow = pgw.deps.uow()
        uow.sync = _CommitAfterKnown(uow.sync, competitor)  # type: ignore[misc]
        ours = await ingest(uow)
        assert [r["status"] for r in first[0].results] == ["accepted"] * ITEMS
        assert [r["status"] for r in ours.results] == ["duplicate"] * ITEMS
        assert [r["payment_intent_id"] for r in ours.results] == \
            [r["payment_intent_id"] for r in first[0].results]  # fmt: skip
        assert rows(pgw.db_path, "SELECT count(*) FROM sync_rejections") == [(0,)]
