"""A signed POST accepted by one `mpac-pgw serve` is refused as a replay by the next one on the same database
(docs/cloud-api.md#replays): the record is in the database, not in the process. On SQLite and on PostgreSQL
(the `backend` fixture, conftest.py)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import urllib.error
import urllib.request

import pytest

from cloud.infrastructure.crypto import SecretBox
from cloud.settings import ENV_ENCRYPTION_KEY
from tests.support import workers

from .test_serve import API_KEY, SECRET, admin, pgw_command, signed

PATH = "/v1/payment_intents"


def start(db: str) -> tuple[subprocess.Popen[str], str]:
    """`mpac-pgw serve --port 0` on `db`; the process and its base URL."""
    proc = subprocess.Popen([*pgw_command(), "serve", "--port", "0", "--db", db], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("mpac-pgw listening on http://127.0.0.1:"):
        proc.kill()
        raise AssertionError(line + (proc.stderr.read() if proc.stderr else ""))
    return proc, line.split()[-1]


def post(base: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, object]]:
    """One POST of captured bytes and headers."""
    req = urllib.request.Request(base + PATH, data=body, method="POST", headers=headers)  # noqa: S310 — loopback
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 — loopback URL we started
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def stop(proc: subprocess.Popen[str]) -> None:
    """SIGTERM and wait for a clean exit."""
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0


def test_a_request_signed_before_a_restart_is_refused_after_it(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sign, send (201), restart serve on the same database, send the same bytes: 401 replayed_request, with
    or without a fresh Idempotency-Key; the intent exists once."""
    db = backend
    monkeypatch.setenv(ENV_ENCRYPTION_KEY, SecretBox.generate_key().decode())  # admin and serve share it
    partner = admin(db, "partner", "create", "--name", "P", "--api-key", API_KEY, "--secret-key", SECRET)
    merchant = admin(db, "merchant", "create", "--partner", partner["client_partner_id"], "--name", "M")
    admin(db, "store", "create", "--merchant", merchant["merchant_id"], "--code", "store_001")
    body = json.dumps({"amount": 1000, "currency": "JPY", "payment_method_types": ["cash"],
                       "merchant_ref_id": "e2e-replay"}).encode()  # fmt: skip
    headers = signed("POST", "", PATH, body)
    proc, base = start(db)
    try:
        assert post(base, body, headers)[0] == 201
    finally:
        stop(proc)
    proc, base = start(db)
    try:
        for extra in ({}, {"Idempotency-Key": "fresh-after-restart"}):
            status, answer = post(base, body, {**headers, **extra})
            error = answer["error"]
            assert isinstance(error, dict) and (status, error["code"]) == (401, "replayed_request"), answer
    finally:
        stop(proc)
    once = "SELECT count(*) FROM payment_intents WHERE merchant_ref_id = $1"
    assert asyncio.run(workers.count(db, once, "e2e-replay")) == 1
