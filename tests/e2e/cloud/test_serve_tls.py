"""`mpac-pgw serve --tls-cert/--tls-key` as a real process: HTTPS ready line, verified calls, clear errors."""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cloud.test_serve import API_KEY, SECRET, admin, pgw_command
from tests.support.pki import Pki


@pytest.fixture
def https_server(tmp_path: Path, test_pki: Pki) -> Iterator[tuple[str, str]]:
    """A fresh HTTPS gateway on 127.0.0.1 (a certificate of the session's test CA); yields (URL, db URL)."""
    db = f"sqlite:///{tmp_path / 'pgw.sqlite3'}"
    proc = subprocess.Popen([*pgw_command(), "serve", "--port", "0", "--db", db, "--tls-cert",
                             str(test_pki.good.cert), "--tls-key", str(test_pki.good.key)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("mpac-pgw listening on https://127.0.0.1:"), line
        yield line.split()[-1], db
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def _request(base: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*pgw_command(), "request", "--url", base, "--api-key", API_KEY, "--secret-key",
                           SECRET, *extra, "GET", "/v1/payment_intents"],
                          capture_output=True, text=True, timeout=60, check=False)


class TestServeOverHttps:
    def test_health_and_a_signed_request_over_verified_https(self, https_server: tuple[str, str],
                                                             test_pki: Pki) -> None:
        """/health answers with the test CA trusted; `mpac-pgw request --ca-file` gets its 200."""
        base, db = https_server
        context = ssl.create_default_context(cafile=str(test_pki.ca))
        with urllib.request.urlopen(base + "/health", timeout=10, context=context) as resp:  # noqa: S310
            assert json.loads(resp.read()) == {"status": "ok"}
        admin(db, "partner", "create", "--name", "TLS", "--api-key", API_KEY, "--secret-key", SECRET)
        done = _request(base, "--ca-file", str(test_pki.ca))
        assert done.returncode == 0, done.stderr
        assert "HTTP 200" in done.stderr and json.loads(done.stdout)["object"] == "list"

    def test_request_without_the_ca_is_refused_with_the_reason(self, https_server: tuple[str, str]) -> None:
        """The system store does not know the test CA: exit 1 naming unknown_ca, never a fallback."""
        done = _request(https_server[0])
        assert done.returncode == 1 and "unknown_ca" in done.stderr and "HTTP 200" not in done.stderr

    def test_a_missing_key_file_stops_serve_with_a_clear_error(self, tmp_path: Path, test_pki: Pki) -> None:
        """Exit 2 and a JSON error naming the missing file; nothing listens."""
        done = subprocess.run([*pgw_command(), "serve", "--port", "0", "--db",
                               f"sqlite:///{tmp_path / 'pgw.sqlite3'}", "--tls-cert", str(test_pki.good.cert),
                               "--tls-key", str(tmp_path / "missing.key")],
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 2 and "missing.key" in done.stderr and "listening" not in done.stdout
