"""`mpac-pgw admin … list|show` over a real SQLite file: JSON views that never carry a secret or a hash, and
the `--db` location rules (a missing directory is an error, a read never creates a database)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cloud.bootstrap import build_deps
from cloud.domain.devices import ActivateDevice
from cloud.service.devices import activate_device
from cloud.settings import Settings
from tests.integration.cloud.test_cli import run

SECRET = "sk_test_listing_secret"
CREDENTIALS = '{"api_key": "provider-key-never-shown"}'


async def _enroll(db: str, code: str) -> str:
    deps = build_deps(Settings.load({}, db_url=db))
    await deps.db.open()
    try:
        cmd = ActivateDevice(code, "SER-42", "SmartPOS")
        made = await activate_device(cmd, devices=deps.devices, tenants=deps.tenants, clock=deps.clock)
        return made.device.id
    finally:
        await deps.db.close()


@pytest.fixture
def tree(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> dict[str, Any]:
    """partner → merchant → store with a provider config and one enrolled device, on a fresh file."""
    db = f"sqlite:///{tmp_path / 'pgw.sqlite3'}"
    _, partner = run(capsys, "admin", "partner", "create", "--name", "Acme", "--api-key", "pk_test_listing",
                     "--secret-key", SECRET, "--db", db)
    _, merchant = run(capsys, "admin", "merchant", "create", "--partner", partner["client_partner_id"],
                      "--name", "Shop", "--db", db)
    _, store = run(capsys, "admin", "store", "create", "--merchant", merchant["merchant_id"],
                   "--code", "store_001", "--db", db)
    run(capsys, "admin", "provider-config", "set", "--store", store["store_id"], "--provider", "simulator",
        "--credentials", CREDENTIALS, "--db", db)
    _, code = run(capsys, "admin", "activation-code", "--store", store["store_id"], "--db", db)
    device_id = asyncio.run(_enroll(db, code["activation_code"]))
    return {"db": db, "partner": partner["client_partner_id"], "merchant": merchant["merchant_id"],
            "store": store["store_id"], "device": device_id}


def _no_secrets(out: Any) -> None:
    text = json.dumps(out)
    for needle in (SECRET, hashlib.sha256(SECRET.encode()).hexdigest(), "provider-key-never-shown",
                   "secret", "hash", "credentials"):
        assert needle not in text, f"{needle!r} in {text}"


class TestList:
    def test_every_kind_lists_with_its_ids_and_no_secret(
            self, capsys: pytest.CaptureFixture[str], tree: dict[str, Any]) -> None:
        """Each kind's list prints its rows, never a key, a hash or a credential."""
        db = tree["db"]
        expected = {("partner",): ("client_partner_id", tree["partner"]),
                    ("merchant", "--partner", tree["partner"]): ("merchant_id", tree["merchant"]),
                    ("store", "--merchant", tree["merchant"]): ("store_id", tree["store"]),
                    ("device", "--store", tree["store"]): ("device_id", tree["device"]),
                    ("provider-config", "--store", tree["store"]): ("provider", "simulator")}
        for (kind, *filters), (field, value) in expected.items():
            code, out = run(capsys, "admin", kind, "list", *filters, "--db", db)
            assert code == 0 and out["object"] == "list" and out["count"] == 1, out
            assert out["data"][0][field] == value
            _no_secrets(out)

    def test_filters_narrow_the_list(self, capsys: pytest.CaptureFixture[str], tree: dict[str, Any]) -> None:
        """A filter on another parent lists nothing."""
        code, out = run(capsys, "admin", "store", "list", "--merchant", "mer_other", "--db", tree["db"])
        assert (code, out["data"]) == (0, [])


class TestShow:
    def test_show_follows_the_tree(self, capsys: pytest.CaptureFixture[str], tree: dict[str, Any]) -> None:
        """partner show lists its merchants; merchant show its stores; store show its configs and devices."""
        db = tree["db"]
        _, partner = run(capsys, "admin", "partner", "show", "--partner", tree["partner"], "--db", db)
        assert [m["merchant_id"] for m in partner["merchants"]] == [tree["merchant"]]
        _, merchant = run(capsys, "admin", "merchant", "show", "--merchant", tree["merchant"], "--db", db)
        assert [s["code"] for s in merchant["stores"]] == ["store_001"]
        _, store = run(capsys, "admin", "store", "show", "--store", tree["store"], "--db", db)
        assert [c["provider"] for c in store["provider_configs"]] == ["simulator"]
        assert store["provider_configs"][0]["updated_at"] > 1_700_000_000
        devices = [(d["device_id"], d["serial_number"]) for d in store["devices"]]
        assert devices == [(tree["device"], "SER-42")]
        _, config = run(capsys, "admin", "provider-config", "show", "--store", tree["store"],
                        "--provider", "simulator", "--db", db)
        assert set(config) == {"store_id", "provider", "updated_at"}
        for out in (partner, merchant, store, config):
            _no_secrets(out)

    @pytest.mark.parametrize("argv", [("partner", "show", "--partner", "cp_nope"),
                                      ("merchant", "show", "--merchant", "mer_nope"),
                                      ("store", "show", "--store", "str_nope"),
                                      ("provider-config", "show", "--store", "str_nope")])
    def test_unknown_ids_exit_2(self, capsys: pytest.CaptureFixture[str], tree: dict[str, Any],
                                argv: tuple[str, ...]) -> None:
        """An id that does not exist is a JSON error with exit 2."""
        code, err = run(capsys, "admin", *argv, "--db", tree["db"])
        assert code == 2 and err["error"]["code"] == "resource_missing", err


class TestDbLocation:
    @pytest.mark.parametrize("argv", [("partner", "create", "--name", "P"), ("partner", "list")])
    def test_admin_into_a_missing_directory_is_an_error(
            self, capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: tuple[str, ...]) -> None:
        """--db in a directory that does not exist exits 2 naming it, and creates nothing."""
        code, err = run(capsys, "admin", *argv, "--db", f"sqlite:///{tmp_path / 'typo' / 'pgw.sqlite3'}")
        assert code == 2 and "does not exist" in err["error"]["message"]
        assert str(tmp_path / "typo") in err["error"]["message"]
        assert not (tmp_path / "typo").exists()

    def test_a_read_never_creates_a_database(
            self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        """list on a missing file (in an existing directory) is an error, not a new empty database."""
        code, err = run(capsys, "admin", "store", "list", "--db", f"sqlite:///{tmp_path / 'new.sqlite3'}")
        assert code == 2 and "no database" in err["error"]["message"]
        assert os.listdir(tmp_path) == []

    def test_serve_into_a_missing_directory_is_an_error(self, tmp_path: Path) -> None:
        """serve --db into a missing directory exits 2 before it listens (it may create the file itself)."""
        done = subprocess.run([sys.executable, "-m", "cloud", "serve", "--port", "0", "--db",
                               f"sqlite:///{tmp_path / 'no' / 'x.sqlite3'}"],
                              capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
        assert done.returncode == 2 and "does not exist" in json.loads(done.stderr)["error"]["message"]
        assert not (tmp_path / "no").exists()


class TestUnknownProvider:
    def test_the_error_lists_the_valid_providers(
            self, capsys: pytest.CaptureFixture[str], tree: dict[str, Any]) -> None:
        """provider-config set with an unknown name says which names are valid."""
        code, err = run(capsys, "admin", "provider-config", "set", "--store", tree["store"], "--provider",
                        "nosuchpay", "--credentials", "{}", "--db", tree["db"])
        message = err["error"]["message"]
        assert code == 2 and "valid providers:" in message
        assert "simulator" in message and "paypay" in message, message
