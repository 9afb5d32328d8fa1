"""`mpac-pgw serve` as a real process: the issue's Must-show flow end to end, then a clean SIGTERM."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

API_KEY, SECRET = "pk_test_abc123", "sk_test_xyz789"


def pgw_command() -> list[str]:
    """The installed console script, else the same entry point via -m (before `pip install -e .`)."""
    script = shutil.which("mpac-pgw", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "cloud.cli"]


def admin(db: str, *argv: str) -> dict[str, Any]:
    """Run one admin command and parse its JSON."""
    out = subprocess.run(
        [*pgw_command(), "admin", *argv, "--db", db], capture_output=True, text=True, check=True, timeout=60
    )
    value: dict[str, Any] = json.loads(out.stdout)
    return value


def signed(method: str, url: str, path: str, body: bytes) -> dict[str, str]:
    """docs/cloud-api.md written out by hand (not via sync.signing), so the test pins the wire format."""
    ts = str(int(time.time()))
    key = hashlib.sha256(SECRET.encode()).hexdigest().encode("ascii")
    message = f"{method}\n{path}\n{ts}\n{hashlib.sha256(body).hexdigest()}".encode()
    signature = hmac.new(key, message, hashlib.sha256).hexdigest()
    return {"Authorization": f"HMAC-SHA256 {API_KEY}:{ts}:{signature}", "Content-Type": "application/json"}


def call(
    base: str, method: str, path: str, payload: Any = None, *, hmac_auth: bool = True
) -> tuple[int, Any]:
    """One HTTP request; returns status and parsed JSON."""
    body = b"" if payload is None else json.dumps(payload).encode()
    headers = (
        signed(method, base, path.split("?", maxsplit=1)[0], body)
        if hmac_auth
        else {"Content-Type": "application/json"}
    )
    data = body if method == "POST" else None
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)  # noqa: S310 — loopback
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 — loopback URL we started
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str, subprocess.Popen[str]]]:
    """A fresh `mpac-pgw serve --port 0 --simulator-routes` on a new SQLite file; yields (base URL, db URL,
    process)."""
    db = f"sqlite:///{tmp_path / 'pgw.sqlite3'}"
    env = {k: v for k, v in os.environ.items() if k != "MPAC_PGW_ENCRYPTION_KEY"}  # the key file is used
    proc = subprocess.Popen(
        [*pgw_command(), "serve", "--port", "0", "--db", db, "--simulator-routes"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("mpac-pgw listening on http://127.0.0.1:"), line + (
            proc.stderr.read() if proc.stderr else ""
        )
        yield line.split()[-1], db, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_must_show_flow_and_clean_shutdown(server: tuple[str, str, subprocess.Popen[str]]) -> None:
    """Partner with fixed keys; signed create 201 with payment_token; token retrieve + confirm; QR MPM reaches
    requires_action with qr_content; the simulator marks it paid; sync -> succeeded; SIGTERM exits 0."""
    base, db, proc = server
    partner = admin(db, "partner", "create", "--name", "Demo", "--api-key", API_KEY, "--secret-key", SECRET)
    merchant = admin(db, "merchant", "create", "--partner", partner["client_partner_id"], "--name", "Shop")
    admin(db, "store", "create", "--merchant", merchant["merchant_id"], "--code", "store_001")
    assert call(base, "GET", "/health", hmac_auth=False) == (200, {"status": "ok"})

    status, cash = call(
        base,
        "POST",
        "/v1/payment_intents",
        {"amount": 1000, "currency": "JPY", "payment_method_types": ["cash"], "merchant_ref_id": "e2e-cash"},
    )
    assert status == 201 and cash["payment_token"].startswith("tok_")
    token = cash["payment_token"]
    status, got = call(
        base, "GET", f"/v1/payment_intents/{cash['id']}?payment_token={token}", hmac_auth=False
    )
    assert (status, got["status"]) == (200, "requires_payment_method")
    status, done = call(
        base,
        "POST",
        f"/v1/payment_intents/{cash['id']}/confirm",
        {"payment_token": token, "cash_received": 1500},
        hmac_auth=False,
    )
    assert (status, done["status"], done["change"]) == (200, "succeeded", 500)

    status, qr = call(
        base,
        "POST",
        "/v1/payment_intents",
        {"amount": 2500, "currency": "JPY", "payment_method_types": ["qr_mpm"], "merchant_ref_id": "e2e-qr"},
    )
    assert status == 201
    status, action = call(
        base,
        "POST",
        f"/v1/payment_intents/{qr['id']}/confirm",
        {"payment_token": qr["payment_token"]},
        hmac_auth=False,
    )
    assert (status, action["status"]) == (200, "requires_action") and action["qr_content"]
    status, _ = call(base, "POST", f"/_simulator/payment_intents/{qr['id']}/pay", hmac_auth=False)
    assert status == 200
    status, synced = call(base, "POST", f"/v1/payment_intents/{qr['id']}/sync", {})
    assert (status, synced["status"]) == (200, "succeeded")

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
