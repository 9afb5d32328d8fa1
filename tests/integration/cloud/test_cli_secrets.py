"""Empty secrets on the command line or in the environment are refused, never replaced by random ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cloud.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, str]]:
    """Run the CLI in-process; (exit code, the error object printed on stderr)."""
    code = main(list(argv))
    out = capsys.readouterr()
    return code, json.loads(out.err)["error"] if code else {}


@pytest.fixture
def db(tmp_path: Path) -> str:
    """A database URL on a fresh file."""
    return f"sqlite:///{tmp_path / 'admin.sqlite3'}"


class TestEmptySecrets:
    @pytest.mark.parametrize(
        ("api_key", "secret_key", "param"),
        [("pk_test_abc123", "", "secret_key"), ("", "sk_test_xyz789", "api_key")],
    )
    def test_empty_key_given_to_partner_create_is_exit_2(
        self, capsys: pytest.CaptureFixture[str], db: str, api_key: str, secret_key: str, param: str
    ) -> None:
        """`--secret-key ""` (or `--api-key ""`) is an error naming the key; no partner is created."""
        code, error = run(capsys, "admin", "partner", "create", "--name", "P", "--api-key", api_key,
                          "--secret-key", secret_key, "--db", db)  # fmt: skip
        assert code == 2
        assert param in error["message"]
        assert run(capsys, "admin", "partner", "create", "--name", "P", "--db", db)[0] == 0  # the file works

    def test_empty_encryption_key_stops_admin_with_exit_2(
        self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, db: str, tmp_path: Path
    ) -> None:
        """MPAC_PGW_ENCRYPTION_KEY="" stops an admin command with a clear message; no key file is made up."""
        monkeypatch.setenv("MPAC_PGW_ENCRYPTION_KEY", "")
        code, error = run(capsys, "admin", "partner", "create", "--name", "P", "--db", db)
        assert (code, error["code"]) == (2, "settings_error")
        assert "MPAC_PGW_ENCRYPTION_KEY" in error["message"] and "empty" in error["message"]
        assert list(tmp_path.iterdir()) == []

    def test_empty_encryption_key_stops_serve_with_exit_2(self, db: str, tmp_path: Path) -> None:
        """`mpac-pgw serve` as a process: exit 2 and the message on stderr, before it listens."""
        env = {**os.environ, "MPAC_PGW_ENCRYPTION_KEY": ""}
        # The timeout only bounds a failure (a serve that starts would run until killed).
        done = subprocess.run([sys.executable, "-m", "cloud.cli", "serve", "--port", "0", "--db", db],
                              capture_output=True, text=True, env=env, timeout=120, check=False)  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert "MPAC_PGW_ENCRYPTION_KEY" in json.loads(done.stderr)["error"]["message"]
        assert "listening" not in done.stdout
        assert list(tmp_path.iterdir()) == []
