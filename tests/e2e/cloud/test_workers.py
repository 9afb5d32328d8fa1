"""`mpac-pgw serve --workers 2` as real processes, on SQLite and on a throwaway PostgreSQL: what must hold
across workers (docs/operations.md#workers) — one port, stable worker ids, restart of a dead worker, clean
stop; idempotency, replays, rate limits and the sync intake shared through the database.

Requests reach a chosen worker over a keep-alive connection that worker accepted (X-Worker-Id)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ulid import ULID

from cloud.infrastructure.crypto import SecretBox
from tests.support.workers import Served, batch, chain, count, pinned, seed, signed, start

INTENTS = "/v1/payment_intents"
BATCHES = "/v1/sync/batches"
LIMIT = 40  # per merchant per minute: every test seeds its own merchant


@pytest.fixture(scope="module")
def key() -> bytes:
    """The encryption key every worker shares."""
    return SecretBox.generate_key()


@pytest.fixture(scope="module")
def served(backend: str, key: bytes, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One `serve --workers 2` per backend for the module; it must stop cleanly (exit 0)."""
    log = tmp_path_factory.mktemp("log") / "serve.log"
    server = start(backend, key, log, "--rate-limit-per-minute", str(LIMIT))
    yield server
    assert server.stop() == 0, log.read_text()


def create_body(ref: str) -> bytes:
    return json.dumps({"amount": 1000, "currency": "JPY", "payment_method_types": ["cash"],
                       "merchant_ref_id": ref, "merchant_store_id": "store_001"}).encode()  # fmt: skip


class TestSupervisor:
    def test_two_workers_answer_on_one_port(self, served: Served) -> None:
        """Connections to the one port reach both workers, ids 1 and 2."""

        async def run() -> set[str]:
            conns = await pinned(served)
            await conns.close()
            return set(conns.by_worker)

        assert asyncio.run(run()) == {"1", "2"}

    def test_a_killed_worker_is_restarted_with_its_id(self, served: Served) -> None:
        """SIGKILL one worker: the supervisor starts another in its slot, both ids answer again."""
        before = served.worker_pids()
        assert len(before) == 2
        os.kill(before[0], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = served.worker_pids()
            if len(now) == 2 and before[0] not in now:
                break
            time.sleep(0.1)
        assert len(now) == 2 and before[0] not in now and before[1] in now

        async def ids() -> set[str]:
            conns = await pinned(served)
            await conns.close()
            return set(conns.by_worker)

        assert asyncio.run(ids()) == {"1", "2"}
        assert "starting it again" in served.log.read_text()


    def test_sigterm_to_one_worker_restarts_it_without_using_the_budget(self, served: Served) -> None:
        """Seven rolling restarts of worker 2 (more than the crash budget of 5): each comes back, the
        supervisor stays up."""
        for _ in range(7):
            old = served.worker_pid("2")
            os.kill(old, signal.SIGTERM)
            assert _wait(lambda: served.worker_pid("2") != old and len(served.worker_pids()) == 2)  # noqa: B023
        assert served.proc.poll() is None


def _wait(done: Callable[[], bool], seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(0.05)
    return False


class TestSupervisorAlone:
    """On SQLite only: the supervisor does the same whatever the database."""

    def test_crash_budget_then_sigint_and_memory_refusal(self, tmp_path: Path, key: bytes) -> None:
        """Six crashes within a minute exhaust the budget (exit 1, workers gone); a fresh supervisor stops
        with exit 0 on SIGINT; --workers 2 on in-memory SQLite is refused with exit 2."""
        db = f"sqlite:///{tmp_path / 'pgw.sqlite3'}"
        served = start(db, key, tmp_path / "a.log")
        for _ in range(6):
            if served.proc.poll() is not None:
                break
            pid = served.worker_pid("1")
            os.kill(pid, signal.SIGKILL)
            _wait(lambda: served.proc.poll() is not None or served.worker_pid("1") != pid)  # noqa: B023
        assert served.proc.wait(timeout=60) == 1
        assert "restarts in 60 s are used up" in served.log.read_text()
        again = start(db, key, tmp_path / "b.log")
        pids = again.worker_pids()
        again.proc.send_signal(signal.SIGINT)
        assert again.proc.wait(timeout=60) == 0
        assert not any(Path(f"/proc/{pid}").exists() for pid in pids)
        argv = [sys.executable, "-m", "cloud.cli", "serve", "--workers", "2", "--db", "sqlite:///:memory:"]
        refused = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        assert refused.returncode == 2 and "in-memory SQLite" in refused.stderr

    def test_workers_of_a_killed_supervisor_stop_themselves(self, tmp_path: Path, key: bytes) -> None:
        """SIGKILL to the supervisor: its workers notice and exit within seconds, leaving no orphans."""
        served = start(f"sqlite:///{tmp_path / 'pgw.sqlite3'}", key, tmp_path / "a.log")
        pids = served.worker_pids()
        served.proc.kill()
        served.proc.wait(timeout=30)
        assert _wait(lambda: not any(Path(f"/proc/{pid}").exists() for pid in pids), seconds=30)

    def test_a_port_in_use_is_refused_not_shared(self, tmp_path: Path, key: bytes) -> None:
        """A second `serve --workers 2` on the port of a running one exits 2 instead of joining its
        SO_REUSEPORT group (which would split the connections between two gateways)."""
        first = start(f"sqlite:///{tmp_path / 'a.sqlite3'}", key, tmp_path / "a.log")
        try:
            argv = [sys.executable, "-m", "cloud.cli", "serve", "--port", str(first.port), "--workers", "2",
                    "--db", f"sqlite:///{tmp_path / 'b.sqlite3'}"]  # fmt: skip
            run = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
            assert run.returncode == 2 and "cannot bind" in run.stderr, run.stderr
        finally:
            assert first.stop() == 0

    def test_a_worker_that_cannot_start_stops_the_supervisor(self, tmp_path: Path) -> None:
        """Worker 1 refuses a missing certificate file: one JSON error line, the supervisor exits 2."""
        argv = [sys.executable, "-m", "cloud.cli", "serve", "--port", "0", "--workers", "2", "--db",
                f"sqlite:///{tmp_path / 'pgw.sqlite3'}", "--tls-cert", str(tmp_path / "none.pem"),
                "--tls-key", str(tmp_path / "none.key")]  # fmt: skip
        run = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        assert run.returncode == 2 and run.stdout == ""
        assert "worker 1 did not start (exit code 2)" in run.stderr and "Traceback" not in run.stderr


class TestShared:
    def test_racing_one_idempotency_key_on_two_workers_leaves_one_intent(
        self, served: Served, backend: str, key: bytes
    ) -> None:
        """The same create with one Idempotency-Key sent to both workers at once, five times: each time one
        intent exists; the loser is 409 in flight or the stored answer."""

        async def run() -> None:
            tenant, _ = await seed(backend, key)
            conns = await pinned(served)
            for n in range(5):
                body = create_body(f"race-{n}")
                headers = {**signed(tenant.api_key, tenant.secret_key, "POST", INTENTS, body),
                           "Idempotency-Key": f"race-key-{n}"}  # fmt: skip
                for conn in conns.by_worker.values():  # both requests are on the wire before either answer
                    await conn.send("POST", INTENTS, body, headers)
                replies = [await conn.answer() for conn in conns.by_worker.values()]
                statuses = sorted(r.status for r in replies)
                assert statuses in ([201, 201], [201, 409]), [r.body for r in replies]
                losers = [r.json()["error"]["code"] for r in replies if r.status == 409]
                assert losers in ([], ["idempotency_in_flight"]), losers
                ids = {r.json()["id"] for r in replies if r.status == 201}
                assert len(ids) == 1
                refs = await count(backend, "SELECT count(*) FROM payment_intents WHERE merchant_ref_id = $1",
                                   f"race-{n}")  # fmt: skip
                assert refs == 1
            await conns.close()

        asyncio.run(run())

    def test_a_signed_post_replayed_to_the_other_worker_is_refused(
        self, served: Served, backend: str, key: bytes
    ) -> None:
        """Accepted by worker 1; the same bytes to worker 2, without a key or with a fresh one: 401."""

        async def run() -> None:
            tenant, _ = await seed(backend, key)
            conns = await pinned(served)
            body = create_body("replayed")
            headers = signed(tenant.api_key, tenant.secret_key, "POST", INTENTS, body)
            assert (await conns["1"].request("POST", INTENTS, body, headers)).status == 201
            for extra in ({}, {"Idempotency-Key": "fresh"}):
                reply = await conns["2"].request("POST", INTENTS, body, {**headers, **extra})
                assert (reply.status, reply.json()["error"]["code"]) == (401, "replayed_request")
            await conns.close()

        asyncio.run(run())

    def test_the_rate_limit_counts_requests_on_both_workers(
        self, served: Served, backend: str, key: bytes
    ) -> None:
        """2 × LIMIT reads of one merchant, alternating workers: about LIMIT pass (not 2 × LIMIT, as two
        in-memory counters would allow), and both workers answer 429 with Retry-After."""

        async def run() -> None:
            tenant, _ = await seed(backend, key)
            conns = await pinned(served)
            refused: dict[str, int] = {"1": 0, "2": 0}
            passed = 0
            for n in range(2 * LIMIT):
                worker = "12"[n % 2]
                path = f"{INTENTS}?limit=1"
                reply = await conns[worker].request(
                    "GET", path, headers=signed(tenant.api_key, tenant.secret_key, "GET", INTENTS, b""))
                if reply.status == 200:
                    passed += 1
                else:
                    assert reply.status == 429 and int(reply.headers["retry-after"]) >= 1, reply.body
                    refused[worker] += 1
            # LIMIT exactly within one minute; +1 if the minute turned meanwhile (the sliding estimate).
            assert LIMIT <= passed <= LIMIT + 1
            assert refused["1"] > 0 and refused["2"] > 0
            await conns.close()

        asyncio.run(run())


async def enroll(served: Served, backend: str, key: bytes) -> dict[str, str]:
    """A device enrolled through the API (its credential)."""
    _, code = await seed(backend, key, activation=True)
    conns = await pinned(served)
    body = json.dumps({"code": code, "serial_number": "W1", "model": "t"}).encode()
    json_type = {"Content-Type": "application/json"}
    reply = await conns["1"].request("POST", "/v1/devices/activate", body, json_type)
    await conns.close()
    assert reply.status == 201, reply.body
    credential: dict[str, str] = reply.json()
    return credential


def post_headers(cred: dict[str, str], body: bytes) -> dict[str, str]:
    return signed(cred["api_key"], cred["secret_key"], "POST", BATCHES, body)


class TestIntake:
    def test_overlapping_batches_on_two_workers_store_each_item_once(
        self, served: Served, backend: str, key: bytes
    ) -> None:
        """Items 1–300 to worker 1 and 151–450 to worker 2 at the same time: every (device_id, local_id)
        is stored once, and both answers agree on the payment_intent_id of the shared items."""

        async def run() -> None:
            cred = await enroll(served, backend, key)
            items = chain(450, "overlap")
            first, second = batch(cred["device_id"], items[:300], str(ULID())), \
                batch(cred["device_id"], items[150:], str(ULID()))  # fmt: skip
            conns = await pinned(served)
            await conns["1"].send("POST", BATCHES, first, post_headers(cred, first))
            await conns["2"].send("POST", BATCHES, second, post_headers(cred, second))
            a, b = await conns["1"].answer(), await conns["2"].answer()
            await conns.close()
            assert (a.status, b.status) == (200, 200), (a.body[:300], b.body[:300])
            ra = {r["local_id"]: r for r in a.json()["results"]}
            rb = {r["local_id"]: r for r in b.json()["results"]}
            shared = set(ra) & set(rb)
            assert len(shared) == 150
            for local_id in shared:
                assert {ra[local_id]["status"], rb[local_id]["status"]} <= {"accepted", "duplicate"}
                assert ra[local_id]["payment_intent_id"] == rb[local_id]["payment_intent_id"]
            assert await count(backend, "SELECT count(*) FROM sync_items WHERE device_id = $1",
                               cred["device_id"]) == 450  # fmt: skip
            distinct = "SELECT count(DISTINCT local_id) FROM sync_items WHERE device_id = $1"
            assert await count(backend, distinct, cred["device_id"]) == 450

        asyncio.run(run())

    def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(
        self, served: Served, backend: str, key: bytes
    ) -> None:
        """A 500-item batch whose worker is SIGKILLed while it works: the client's retry (same batch, signed
        again) is answered in full, and each item is stored exactly once."""

        async def run() -> None:
            cred = await enroll(served, backend, key)
            items = chain(500, "killed")
            body = batch(cred["device_id"], items, str(ULID()))
            conns = await pinned(served)
            victim = conns["1"]
            pid = served.worker_pid("1")
            await victim.send("POST", BATCHES, body, post_headers(cred, body))
            os.kill(pid, signal.SIGKILL)
            with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
                await victim.answer()
            await asyncio.sleep(1.1)  # a new second: the retry's signature is new (the agent signs at send)
            retry = post_headers(cred, body)
            reply = await conns["2"].request("POST", BATCHES, body, retry)
            await conns.close()
            assert reply.status == 200, reply.body[:300]
            results = reply.json()["results"]
            assert [r["local_id"] for r in results] == [json.loads(i)["local_id"] for i in items]
            assert {r["status"] for r in results} <= {"accepted", "duplicate"}
            assert await count(backend, "SELECT count(*) FROM sync_items WHERE device_id = $1",
                               cred["device_id"]) == 500  # fmt: skip
            assert await count(backend, "SELECT count(*) FROM payment_intents WHERE merchant_ref_id LIKE $1",
                               "killed-%") == 500  # fmt: skip

        asyncio.run(run())
