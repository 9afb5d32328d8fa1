"""Replays of signed POSTs (docs/cloud-api.md#replays): a replayed signature passes only with the very
Idempotency-Key it was first accepted with; the record is in the database, shared and kept across restarts."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from pytest_aiohttp import AiohttpServer

from cloud.api.app import create_app
from cloud.api.auth import purge_replays
from cloud.bootstrap import build_deps
from cloud.settings import Settings
from cloud.testing import PgwClient, SettableClock, Tenant, db_bytes, db_snapshot, seed_tenant

from .conftest import API_KEY, SECRET_KEY, Pgw
from .helpers import create, intent_body, rows

PATH = "/v1/payment_intents"


def signed(client: PgwClient, path: str, payload: Any) -> tuple[bytes, dict[str, str]]:
    """A body and its Authorization header, to be sent as often as a test likes."""
    raw = json.dumps(payload).encode()
    return raw, {"Authorization": client.sign("POST", path, raw)}


async def send(client: PgwClient, path: str, raw: bytes, auth: dict[str, str], key: str | None = None) -> Any:
    """POST the captured request, with an Idempotency-Key if given."""
    headers = {**auth, **({} if key is None else {"Idempotency-Key": key})}
    return await client.post(path, raw=raw, signed=False, headers=headers)


def expect_replayed(resp: Any) -> None:
    """401 replayed_request."""
    assert (resp.status, resp.body["error"]["code"]) == (401, "replayed_request"), resp.body


# Each case: (path maker from an intent, body, payment method of the intent it needs).
ROUTES: list[tuple[str, Callable[[str], str], dict[str, Any], str]] = [
    ("confirm", lambda i: f"{PATH}/{i}/confirm", {"cash_received": 1000}, "cash"),
    ("cancel", lambda i: f"{PATH}/{i}/cancel", {}, "qr_mpm"),
    ("sync", lambda i: f"{PATH}/{i}/sync", {}, "qr_mpm"),
]


class TestFreshKeyReplay:
    @pytest.mark.parametrize("first_key", [None, "k1"])
    async def test_create_replayed_with_a_fresh_key_is_401(
        self, pgw: Pgw, client: PgwClient, first_key: str | None
    ) -> None:
        """A captured create re-sent with a new Idempotency-Key each time is 401; nothing more is stored."""
        raw, auth = signed(client, PATH, intent_body("cash"))
        assert (await send(client, PATH, raw, auth, first_key)).status == 201
        before = db_snapshot(pgw.db_path)
        for fresh in ("k2", "k3"):
            expect_replayed(await send(client, PATH, raw, auth, fresh))
        assert db_snapshot(pgw.db_path) == before

    @pytest.mark.parametrize("route", ROUTES, ids=[r[0] for r in ROUTES])
    async def test_every_signed_post_replayed_with_a_fresh_key_is_401(
        self, pgw: Pgw, client: PgwClient, route: tuple[str, Callable[[str], str], dict[str, Any], str]
    ) -> None:
        """confirm, cancel, sync: the replay never reaches the handler (no 409 invalid_state, no change)."""
        _, path_of, payload, method = route
        pi = await create(client, method)
        path = path_of(pi["id"])
        raw, auth = signed(client, path, payload)
        assert (await send(client, path, raw, auth, "first")).status == 200
        before = db_snapshot(pgw.db_path)
        expect_replayed(await send(client, path, raw, auth, "fresh"))
        assert db_snapshot(pgw.db_path) == before

    async def test_capture_replayed_with_a_fresh_key_is_401(self, pgw: Pgw, client: PgwClient) -> None:
        """A manual-capture intent: the replayed capture is refused before the handler."""
        pi = await create(client, "cash", capture_method="manual")
        confirmed = await client.post(f"{PATH}/{pi['id']}/confirm", {"cash_received": 1000})
        assert confirmed.body["status"] == "requires_capture", confirmed.body
        path = f"{PATH}/{pi['id']}/capture"
        raw, auth = signed(client, path, {})
        assert (await send(client, path, raw, auth)).status == 200
        expect_replayed(await send(client, path, raw, auth, "fresh"))


class TestSameKeyReplay:
    async def test_same_key_is_answered_by_idempotency(self, pgw: Pgw, client: PgwClient) -> None:
        """The first key again: the stored response, marked replayed; the handler does not run again."""
        raw, auth = signed(client, PATH, intent_body("cash"))
        first = await send(client, PATH, raw, auth, "k1")
        again = await send(client, PATH, raw, auth, "k1")
        assert (first.status, again.status) == (201, 201)
        assert again.body["id"] == first.body["id"] and again.headers["Idempotent-Replayed"] == "true"
        assert rows(pgw.db_path, "SELECT count(*) FROM payment_intents") == [(1,)]

    async def test_first_without_key_then_with_one_is_401(self, pgw: Pgw, client: PgwClient) -> None:
        """A signature first accepted with no key has no key to match: adding one later is a replay."""
        raw, auth = signed(client, PATH, intent_body("cash"))
        assert (await send(client, PATH, raw, auth)).status == 201
        expect_replayed(await send(client, PATH, raw, auth, "k1"))
        expect_replayed(await send(client, PATH, raw, auth))

    async def test_first_with_key_then_without_is_401(self, pgw: Pgw, client: PgwClient) -> None:
        """Dropping the key from a replay does not get past the record either."""
        raw, auth = signed(client, PATH, intent_body("cash"))
        assert (await send(client, PATH, raw, auth, "k1")).status == 201
        expect_replayed(await send(client, PATH, raw, auth))


class TestConcurrentFirsts:
    async def test_one_signature_sent_twenty_times_at_once_runs_once(
        self, pgw: Pgw, client: PgwClient
    ) -> None:
        """Without a key: exactly one answer is the create, every other one is 401 replayed_request."""
        raw, auth = signed(client, PATH, intent_body("cash"))
        answers = await asyncio.gather(*(send(client, PATH, raw, auth) for _ in range(20)))
        assert sorted(a.status for a in answers) == [201] + [401] * 19
        assert {a.body["error"]["code"] for a in answers if a.status == 401} == {"replayed_request"}
        assert rows(pgw.db_path, "SELECT count(*) FROM payment_intents") == [(1,)]

    async def test_same_key_sent_at_once_creates_one_intent(self, pgw: Pgw, client: PgwClient) -> None:
        """With one key: one create, the others the stored answer or 409 in flight, never a second intent."""
        raw, auth = signed(client, PATH, intent_body("cash"))
        answers = await asyncio.gather(*(send(client, PATH, raw, auth, "k") for _ in range(20)))
        assert {a.status for a in answers} <= {201, 409}
        assert {a.body["id"] for a in answers if a.status == 201} != set()
        assert len({a.body["id"] for a in answers if a.status == 201}) == 1
        assert rows(pgw.db_path, "SELECT count(*) FROM payment_intents") == [(1,)]


Starter = Callable[[], Awaitable[Any]]


@pytest.fixture
async def start_on_one_file(
    aiohttp_server: AiohttpServer, pgw_settings: Settings, clock: SettableClock
) -> AsyncIterator[Starter]:
    """Start gateways (each its own app, writer and reader) over the same SQLite file."""
    session = aiohttp.ClientSession()
    seeded: list[Tenant] = []

    async def start() -> Any:
        deps = build_deps(pgw_settings, clock)
        server = await aiohttp_server(create_app(pgw_settings, deps), host="127.0.0.1", port=0)
        if not seeded:
            seeded.append(await seed_tenant(deps, api_key=API_KEY, secret_key=SECRET_KEY))
        url = str(server.make_url("")).rstrip("/")
        return server, PgwClient(session, url, API_KEY, SECRET_KEY, clock)

    yield start
    await session.close()


class TestDurableRecord:
    async def test_a_replay_after_a_restart_is_401(self, start_on_one_file: Starter) -> None:
        """Sign, send, stop the server, start a new one on the same file, send again: 401 replayed_request."""
        server, client = await start_on_one_file()
        raw, auth = signed(client, PATH, intent_body("cash"))
        assert (await send(client, PATH, raw, auth)).status == 201
        await server.close()  # its cleanup closes the database
        _, restarted = await start_on_one_file()
        expect_replayed(await send(restarted, PATH, raw, auth))
        expect_replayed(await send(restarted, PATH, raw, auth, "fresh"))

    async def test_two_workers_share_the_record(self, start_on_one_file: Starter) -> None:
        """Accepted by one process's app, the same signature at another's is refused."""
        (_, a), (_, b) = await start_on_one_file(), await start_on_one_file()
        raw, auth = signed(a, PATH, intent_body("cash"))
        assert (await send(a, PATH, raw, auth, "k1")).status == 201
        expect_replayed(await send(b, PATH, raw, auth, "k2"))

    async def test_only_hashes_are_stored(self, pgw: Pgw, client: PgwClient) -> None:
        """The row holds the SHA-256 of the signature and of the key; neither value itself is in the file."""
        raw, auth = signed(client, PATH, intent_body("cash"))
        assert (await send(client, PATH, raw, auth, "key-secretish-1")).status == 201
        signature = auth["Authorization"].rsplit(":", 1)[1]
        stored = rows(pgw.db_path, "SELECT signature_hash, key_hash FROM signature_replays")
        assert stored == [(hashlib.sha256(signature.encode()).hexdigest(),
                           hashlib.sha256(b"key-secretish-1").hexdigest())]  # fmt: skip
        files = db_bytes(pgw.db_path)
        assert signature.encode() not in files

    async def test_expired_records_are_purged(
        self, pgw: Pgw, client: PgwClient, clock: SettableClock
    ) -> None:
        """The sweep's purge drops a record once its timestamp can no longer pass the window."""
        raw, auth = signed(client, PATH, intent_body("cash"))
        assert (await send(client, PATH, raw, auth)).status == 201
        await purge_replays(uow=pgw.deps.uow(), now=clock())
        assert rows(pgw.db_path, "SELECT count(*) FROM signature_replays") == [(1,)]
        clock.advance(2 * 300 + 1)
        await purge_replays(uow=pgw.deps.uow(), now=clock())
        assert rows(pgw.db_path, "SELECT count(*) FROM signature_replays") == [(0,)]

    async def test_get_may_repeat_and_is_not_recorded(self, pgw: Pgw, client: PgwClient) -> None:
        """Signed GETs are not replay-checked and leave no record."""
        header = {"Authorization": client.sign("GET", PATH, b"")}
        for _ in range(2):
            assert (await client.get(PATH, signed=False, headers=header)).status == 200
        assert rows(pgw.db_path, "SELECT count(*) FROM signature_replays") == [(0,)]

