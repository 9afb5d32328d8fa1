"""The admin lockout on the loopback agent app: counted before the check, atomically, across restarts."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from agent.adapters.secrets import EnrolledDevice, SecretStore, hash_password
from agent.bootstrap import build_app
from agent.deps import Devices
from agent.entrypoints.web.admin import LOCK_S, MAX_FAILURES
from tests.integration.agent.conftest import make_settings

RIGHT = "pw-for-lockout-tests"
ACTION = "/api/web/admin/support_bundle"


class Clock:
    """A settable wall clock in unix ms."""

    def __init__(self) -> None:
        self.now = 1_700_000_000_000

    def __call__(self) -> int:
        return self.now


def enroll(folder: Path) -> None:
    """The enrollment record with the hash of RIGHT."""
    SecretStore(folder).save(EnrolledDevice("dev_1", "pk_1", "sk_1", cloud_url="http://127.0.0.1:9",
                                            admin_password_hash=hash_password(RIGHT)))


async def attempt(client: TestClient[Any, Any], password: str) -> tuple[int, dict[str, Any], str | None]:
    """One admin action: (status, error or body, Retry-After)."""
    resp = await client.post(ACTION, json={"password": password})
    body = await resp.json()
    return resp.status, body.get("error", body), resp.headers.get("Retry-After")


async def started(folder: Path, clock: Clock) -> TestClient[Any, Any]:
    """The agent app over `folder` (its database and enrollment record) on a loopback port."""
    app = await build_app(make_settings(folder), devices=Devices(), sync=False, clock_ms=clock)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    return client


class TestParallelGuesses:
    """Many wrong passwords at once."""

    async def test_sixty_parallel_wrong_passwords(self, tmp_path: Path) -> None:
        """Of 60 concurrent wrong passwords at most MAX_FAILURES are checked (401); the rest are 429."""
        enroll(tmp_path)
        client = await started(tmp_path, Clock())
        try:
            results = await asyncio.gather(*(attempt(client, f"guess-{i}") for i in range(60)))
            checked = [r for r in results if r[0] == 401]
            locked = [r for r in results if r[0] == 429]
            assert len(checked) <= MAX_FAILURES and len(checked) + len(locked) == 60
            assert all(r[1]["code"] == "admin_password_wrong" for r in checked)
            assert all(r[1]["code"] == "admin_locked" and r[2] is not None for r in locked)
            status, error, _ = await attempt(client, RIGHT)
            assert (status, error["code"]) == (429, "admin_locked")  # even the right one waits now
        finally:
            await client.close()


class TestRestart:
    """The count and the lock live in the agent's database."""

    async def test_restart_keeps_the_lock(self, tmp_path: Path) -> None:
        """Locked, restarted over the same database: still 429 for the right password until the lock ends."""
        enroll(tmp_path)
        clock = Clock()
        client = await started(tmp_path, clock)
        try:
            for i in range(MAX_FAILURES):
                assert (await attempt(client, f"guess-{i}"))[0] == 401
            assert (await attempt(client, RIGHT))[0] == 429
        finally:
            await client.close()
        clock.now += 1000
        client = await started(tmp_path, clock)
        try:
            status, error, retry_after = await attempt(client, RIGHT)
            assert (status, error["code"]) == (429, "admin_locked")
            assert retry_after is not None and 0 < int(retry_after) <= LOCK_S
            clock.now += LOCK_S * 1000
            status, body, _ = await attempt(client, RIGHT)
            assert status == 200 and "config" in body
        finally:
            await client.close()

    async def test_restart_keeps_the_count(self, tmp_path: Path) -> None:
        """Wrong passwords before a restart still count after it: the one that reaches the limit locks."""
        enroll(tmp_path)
        clock = Clock()
        client = await started(tmp_path, clock)
        try:
            for i in range(MAX_FAILURES - 1):
                assert (await attempt(client, f"guess-{i}"))[0] == 401
        finally:
            await client.close()
        client = await started(tmp_path, clock)
        try:
            assert (await attempt(client, "guess-last"))[0] == 401
            assert (await attempt(client, RIGHT))[0] == 429
        finally:
            await client.close()

    async def test_right_password_resets_the_count(self, tmp_path: Path) -> None:
        """A right password between wrong ones starts the count again: no lock after 2 × (MAX - 1) wrong."""
        enroll(tmp_path)
        client = await started(tmp_path, Clock())
        try:
            for _ in range(2):
                for i in range(MAX_FAILURES - 1):
                    assert (await attempt(client, f"guess-{i}"))[0] == 401
                assert (await attempt(client, RIGHT))[0] == 200
        finally:
            await client.close()
