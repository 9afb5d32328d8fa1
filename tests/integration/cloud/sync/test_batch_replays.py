"""A captured sync batch cannot be re-run by adding or changing an Idempotency-Key
(docs/cloud-api.md#replays)."""

from __future__ import annotations

import json

import pytest

from cloud.testing import PgwClient, Tenant, db_snapshot

from ..conftest import Pgw
from .helpers import BATCHES, Chain, device_client, enroll


@pytest.fixture
async def dev_and_chain(pgw: Pgw, tenant: Tenant) -> tuple[PgwClient, Chain]:
    """An enrolled device's signing client and its hash chain."""
    keys = await enroll(pgw, tenant)
    return device_client(pgw, keys), Chain(keys.device_id)


class TestBatchReplay:
    @pytest.mark.parametrize(("first", "again"), [(None, "fresh"), ("b-1", "b-2"), ("b-1", None)])
    async def test_replayed_batch_with_another_key_is_401(
        self, pgw: Pgw, dev_and_chain: tuple[PgwClient, Chain], first: str | None, again: str | None
    ) -> None:
        """Another key (or none, or one where there was none) is 401 replayed_request; nothing is written."""
        dev, chain = dev_and_chain
        raw = json.dumps(chain.batch([chain.add(), chain.add()])).encode()
        auth = {"Authorization": dev.sign("POST", BATCHES, raw)}
        key = {} if first is None else {"Idempotency-Key": first}
        assert (await dev.post(BATCHES, raw=raw, signed=False, headers={**auth, **key})).status == 200
        before = db_snapshot(pgw.db_path)
        key = {} if again is None else {"Idempotency-Key": again}
        resp = await dev.post(BATCHES, raw=raw, signed=False, headers={**auth, **key})
        assert (resp.status, resp.body["error"]["code"]) == (401, "replayed_request")
        assert db_snapshot(pgw.db_path) == before

    async def test_same_signature_and_key_get_the_stored_results(
        self, pgw: Pgw, dev_and_chain: tuple[PgwClient, Chain]
    ) -> None:
        """The very same request (signature and key) is answered from idempotency."""
        dev, chain = dev_and_chain
        raw = json.dumps(chain.batch([chain.add()])).encode()
        headers = {"Authorization": dev.sign("POST", BATCHES, raw), "Idempotency-Key": "b-1"}
        first = await dev.post(BATCHES, raw=raw, signed=False, headers=headers)
        again = await dev.post(BATCHES, raw=raw, signed=False, headers=headers)
        assert (first.status, again.status) == (200, 200)
        assert again.body == first.body and again.headers["Idempotent-Replayed"] == "true"
