"""`doctor` and `status` say how the cloud's certificate verified: the reference endpoint served over HTTPS
by a real process (python -m sync.testing --tls-cert/--tls-key), certificates from the session PKI."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.entrypoints.doctor import check_cloud
from agent.entrypoints.status import certificate_line
from sync.testing.pki import ServerFiles
from sync.tls import CloudTrust
from tests.support.pki import Pki


def _serve(tmp_path: Path, files: ServerFiles) -> Iterator[str]:
    proc = subprocess.Popen([sys.executable, "-m", "sync.testing", "--db", str(tmp_path / "ref.sqlite3"),
                             "--tls-cert", str(files.cert), "--tls-key", str(files.key)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening https://127.0.0.1:"), line
        yield line.split()[-1]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def https_url(tmp_path: Path, test_pki: Pki) -> Iterator[str]:
    """The reference endpoint with the good certificate."""
    yield from _serve(tmp_path, test_pki.good)


@pytest.fixture
def expired_url(tmp_path: Path, test_pki: Pki) -> Iterator[str]:
    """The reference endpoint with an expired certificate of the right CA."""
    yield from _serve(tmp_path, test_pki.expired)


class TestDoctorCloudCheck:
    def test_verified_https_is_ok(self, https_url: str, test_pki: Pki) -> None:
        """With the right CA the cloud check passes and says the HTTPS was verified."""
        check, _ = check_cloud(https_url, CloudTrust(test_pki.ca))
        assert check.status == "ok" and "verified HTTPS" in check.detail

    def test_an_unknown_ca_fails_with_a_hint(self, https_url: str) -> None:
        """Without the CA (system store) the check fails, names unknown_ca and hints at ca_file."""
        check, cloud_time = check_cloud(https_url, CloudTrust())
        assert check.status == "fail" and "unknown_ca" in check.detail
        assert check.hint is not None and "ca_file" in check.hint
        assert cloud_time.offset_s is None

    def test_an_expired_certificate_fails_with_its_reason(self, expired_url: str, test_pki: Pki) -> None:
        """An expired certificate is its own reason, not a network problem."""
        check, _ = check_cloud(expired_url, CloudTrust(test_pki.ca))
        assert check.status == "fail" and "expired" in check.detail and "renewed" in (check.hint or "")


class TestStatusCertificateLine:
    def test_lines_for_each_state(self, https_url: str, test_pki: Pki) -> None:
        """The line names the verified subject and issuer, or the failure and its reason."""
        trust = CloudTrust(test_pki.ca, test_pki.pins)
        check_cloud(https_url, trust)
        line = certificate_line(trust.status(https_url))
        assert line.startswith("verified: CN=127.0.0.1 by CN=MPAC Test CA") and "pinned" in line
        failing = CloudTrust(test_pki.ca, test_pki.wrong_pins)
        check_cloud(https_url, failing)
        assert certificate_line(failing.status(https_url)).startswith("FAILED (pin_mismatch)")
        assert certificate_line(None) == "unknown (the agent is not running)"
        assert certificate_line(CloudTrust().status("http://127.0.0.1:8080")).startswith("plain HTTP")
