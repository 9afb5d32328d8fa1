"""A webhook survives a crash between the state change and its delivery: `mpac-pgw serve` as a real process is
SIGKILLed right after the COMMIT that wrote the intent's move (its Transaction); the outbox row is in that
same COMMIT, so after a restart the event reaches a real loopback receiver, signed
(tests/support/crashing_pgw.py injects the crash). On SQLite and on PostgreSQL (the `backend` fixture,
conftest.py)."""

from __future__ import annotations

import json
import signal
import threading
import time
import urllib.error
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from cloud.infrastructure.crypto import SecretBox
from cloud.settings import ENV_ENCRYPTION_KEY
from tests.integration.cloud.test_webhooks_outbound import verify_standard_webhook

from .test_crash_idempotency import BODY, PATH, count, post, start
from .test_serve import API_KEY, SECRET, admin


class _Hooks(BaseHTTPRequestHandler):
    got: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        """Quiet."""


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    """A plain HTTP receiver on 127.0.0.1 in a thread: its URL and what it got."""
    _Hooks.got = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hooks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks", _Hooks.got
    server.shutdown()


def test_killed_after_the_commit_still_delivers_after_restart(
    backend: str, receiver: tuple[str, list[tuple[dict[str, str], bytes]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL right after the cash confirm's COMMIT (state + outbox): nothing sent; after a restart the
    receiver gets payment_intent.succeeded once, with a valid signature."""
    url, got = receiver
    db = backend
    monkeypatch.setenv(ENV_ENCRYPTION_KEY, SecretBox.generate_key().decode())  # admin and serve share it
    partner = admin(db, "partner", "create", "--name", "Hooks", "--api-key", API_KEY, "--secret-key", SECRET)
    merchant = admin(db, "merchant", "create", "--partner", partner["client_partner_id"], "--name", "Shop")
    admin(db, "store", "create", "--merchant", merchant["merchant_id"], "--code", "store_001")
    endpoint = admin(db, "webhook", "add", "--partner", partner["client_partner_id"], "--url", url,
                     "--allow-loopback")  # fmt: skip
    assert endpoint["secret"].startswith("whsec_") and endpoint["status"] == "enabled"
    monkeypatch.setenv("MPAC_PGW_WEBHOOK_ALLOW_LOOPBACK", "1")
    monkeypatch.setenv("MPAC_PGW_WEBHOOK_POLL_SECONDS", "0.2")

    proc, base = start(db, kill_after=None)
    try:
        status, created, _ = post(base, PATH, BODY, "hook-create")
        assert status == 201, created
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
    proc, base = start(db, kill_after="transactions")  # the unit of the move itself
    try:
        with pytest.raises((ConnectionError, urllib.error.URLError)):
            paid = json.dumps({"cash_received": 2000}).encode()
            post(base, f"{PATH}/{created['id']}/confirm", paid, "hook-c")
        assert proc.wait(timeout=15) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert count(db, "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'") == 1
    assert got == []

    proc, base = start(db, kill_after=None)
    try:
        deadline = time.monotonic() + 30  # a bound on waiting, not a measured figure
        while not got and time.monotonic() < deadline:
            time.sleep(0.05)
        [(headers, body)] = got
        event = json.loads(body)
        assert (event["type"], event["data"]["object"]["id"]) == ("payment_intent.succeeded", created["id"])
        assert verify_standard_webhook(endpoint["secret"], headers, body)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
    listed = admin(db, "webhook", "attempts", "--event", event["id"])
    assert [a["status_code"] for a in listed["data"]] == [200]
