"""`mpac-pgw admin …` and `--help`, run in-process against a real SQLite file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from cloud.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    """Run the CLI; return the exit code and the parsed stdout (or stderr on failure)."""
    code = main(list(argv))
    out = capsys.readouterr()
    return code, json.loads(out.out if code == 0 else out.err)


@pytest.fixture
def db(tmp_path: Path) -> str:
    """A database URL on a fresh file."""
    return f"sqlite:///{tmp_path / 'admin.sqlite3'}"


class TestAdmin:
    def test_partner_with_fixed_keys_stores_only_the_hash(
        self, capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
    ) -> None:
        """Given keys are used as is; the secret itself is nowhere in the database files."""
        code, out = run(
            capsys,
            "admin",
            "partner",
            "create",
            "--name",
            "Acme",
            "--api-key",
            "pk_test_abc123",
            "--secret-key",
            "sk_test_xyz789",
            "--db",
            db,
        )
        assert code == 0
        assert out["api_key"] == "pk_test_abc123" and out["secret_key"] == "sk_test_xyz789"
        assert out["client_partner_id"].startswith("cp_")
        raw = b"".join(p.read_bytes() for p in tmp_path.glob("admin.sqlite3*"))
        assert b"sk_test_xyz789" not in raw
        assert hashlib.sha256(b"sk_test_xyz789").hexdigest().encode() in raw

    def test_random_keys_and_the_whole_hierarchy(self, capsys: pytest.CaptureFixture[str], db: str) -> None:
        """partner -> merchant -> store -> provider-config, each printing JSON with its id."""
        _, partner = run(capsys, "admin", "partner", "create", "--name", "P", "--db", db)
        assert partner["api_key"].startswith("pk_") and partner["secret_key"].startswith("sk_")
        _, merchant = run(
            capsys,
            "admin",
            "merchant",
            "create",
            "--partner",
            partner["client_partner_id"],
            "--name",
            "M",
            "--db",
            db,
        )
        _, store = run(
            capsys,
            "admin",
            "store",
            "create",
            "--merchant",
            merchant["merchant_id"],
            "--code",
            "store_001",
            "--db",
            db,
        )
        assert (store["code"], store["store_id"][:4]) == ("store_001", "str_")
        code, config = run(
            capsys,
            "admin",
            "provider-config",
            "set",
            "--store",
            store["store_id"],
            "--provider",
            "simulator",
            "--credentials",
            '{"k": "v"}',
            "--db",
            db,
        )
        assert (code, config["provider"]) == (0, "simulator")
        assert "k" not in config

    @pytest.mark.parametrize(
        "argv",
        [
            ("merchant", "create", "--partner", "cp_missing", "--name", "M"),
            ("store", "create", "--merchant", "mer_missing", "--code", "s"),
            ("partner", "create", "--name", "P", "--api-key", "pk_only_key_given"),
            ("provider-config", "set", "--store", "str_x", "--provider", "simulator", "--credentials", "[1]"),
            ("provider-config", "set", "--store", "str_x", "--provider", "paypay", "--credentials", "{}"),
        ],
    )
    def test_refusals_exit_2_with_json(
        self, capsys: pytest.CaptureFixture[str], db: str, argv: tuple[str]
    ) -> None:
        """Unknown parents and bad values exit 2 with a JSON error on stderr."""
        code, err = run(capsys, "admin", *argv, "--db", db)
        assert code == 2
        assert err["error"]["message"]

    def test_env_db_is_used(
        self, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """MPAC_PGW_DB picks the database when --db is absent."""
        monkeypatch.setenv("MPAC_PGW_DB", f"sqlite:///{tmp_path / 'env.sqlite3'}")
        code, _ = run(capsys, "admin", "partner", "create", "--name", "E")
        assert code == 0 and (tmp_path / "env.sqlite3").exists()

    @pytest.mark.parametrize(
        "argv",
        [
            (),
            ("serve",),
            ("admin",),
            ("admin", "partner", "create"),
            ("admin", "store", "create"),
            ("admin", "provider-config", "set"),
        ],
    )
    def test_help(self, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]) -> None:
        """Every level has --help describing its options."""
        with pytest.raises(SystemExit) as exit_:
            main([*argv, "--help"])
        assert exit_.value.code == 0
        text = capsys.readouterr().out
        assert "usage: mpac-pgw" in text
        if argv[-1:] in (("create",), ("set",), ("serve",)):
            assert "--db" in text
