"""A keyed create survives a crash between its commit and its reply: the retry gets the stored 201.

`mpac-pgw serve` runs as a real process through tests/support/crashing_pgw.py, which (with
CRASH_AFTER_INSERT_INTO=payment_intents) SIGKILLs it right after the COMMIT that inserted the intent and
before any reply is written. If the Idempotency-Key record were committed separately (after the business
write), it would be lost with the process and the retry would get 409 duplicate_merchant_ref_id instead of
the outcome of its own create. Runs on SQLite and on PostgreSQL (the `backend` fixture, conftest.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from cloud.infrastructure.crypto import SecretBox
from cloud.settings import ENV_ENCRYPTION_KEY
from sync.signing import authorization_header
from tests.support import workers
from tests.support.crashing_pgw import ENV as KILL_ENV

from .test_serve import API_KEY, SECRET, admin

ROOT = Path(__file__).resolve().parents[3]
PATH = "/v1/payment_intents"
BODY = json.dumps({"amount": 1200, "currency": "JPY", "payment_method_types": ["cash"],
                   "merchant_ref_id": "crash-order-1"}).encode()  # fmt: skip


def start(db: str, *, kill_after: str | None) -> tuple[subprocess.Popen[str], str]:
    """`mpac-pgw serve --port 0` (through the crashing wrapper); it crashes only when `kill_after` names a
    table."""
    env = {k: v for k, v in os.environ.items() if k != KILL_ENV}  # the test's encryption key included
    if kill_after is not None:
        env[KILL_ENV] = kill_after
    command = [sys.executable, "-m", "tests.support.crashing_pgw", "serve", "--port", "0", "--db", db]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
                            cwd=ROOT)  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("mpac-pgw listening on http://127.0.0.1:"), line
    return proc, line.split()[-1]


def post(base: str, path: str, body: bytes, idempotency_key: str, *,
         later_s: int = 0) -> tuple[int, Any, dict[str, str]]:
    """A POST with an Idempotency-Key, signed at send time (+ `later_s`: another signature, same body)."""
    headers = {
        "Authorization": authorization_header(API_KEY, SECRET, "POST", path, int(time.time()) + later_s,
                                              body),
        "Content-Type": "application/json",
        "Idempotency-Key": idempotency_key,
    }
    req = urllib.request.Request(base + path, data=body, method="POST", headers=headers)  # noqa: S310 — loopback
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 — loopback URL we started
            return resp.status, json.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read()), dict(err.headers)


def count(db: str, sql: str, *args: Any) -> int:
    """One integer read from the committed database (either engine)."""
    return asyncio.run(workers.count(db, sql, *args))


def test_retry_after_kill_between_commit_and_reply_gets_the_stored_201(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL right after the intent's COMMIT: no reply reached the client; after a restart the same key and
    body return the stored 201 (same id, fresh working token), and the database holds exactly one intent."""
    db = backend
    monkeypatch.setenv(ENV_ENCRYPTION_KEY, SecretBox.generate_key().decode())  # admin and serve share it
    partner = admin(db, "partner", "create", "--name", "Crash", "--api-key", API_KEY, "--secret-key", SECRET)
    merchant = admin(db, "merchant", "create", "--partner", partner["client_partner_id"], "--name", "Shop")
    admin(db, "store", "create", "--merchant", merchant["merchant_id"], "--code", "store_001")

    proc, base = start(db, kill_after="payment_intents")
    try:
        with pytest.raises((ConnectionError, urllib.error.URLError)):  # the process died before replying
            post(base, PATH, BODY, "crash-key-1")
        assert proc.wait(timeout=15) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert count(db, "SELECT count(*) FROM payment_intents") == 1  # the create was committed

    proc, base = start(db, kill_after=None)
    try:
        status, again, headers = post(base, PATH, BODY, "crash-key-1")
        assert status == 201, again  # the old two-commit design answered 409 duplicate_merchant_ref_id here
        assert again["merchant_ref_id"] == "crash-order-1"
        assert headers.get("Idempotent-Replayed") == "true"
        assert count(db, "SELECT count(*) FROM payment_intents WHERE id = $1", again["id"]) == 1
        token_url = f"{base}{PATH}/{again['id']}?payment_token={again['payment_token']}"
        with urllib.request.urlopen(token_url, timeout=10) as resp:  # noqa: S310 — loopback
            assert json.loads(resp.read())["id"] == again["id"]
        # Without the key the same body is a second create of a used merchant_ref_id: the 409 a client
        # would have been stuck with had the stored response been lost. Signed a second later: the same
        # signature with another key would be a replay (401, docs/cloud-api.md).
        status, other, _ = post(base, PATH, BODY, "another-key", later_s=1)
        assert (status, other["error"]["code"]) == (409, "duplicate_merchant_ref_id")
        assert count(db, "SELECT count(*) FROM payment_intents") == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
