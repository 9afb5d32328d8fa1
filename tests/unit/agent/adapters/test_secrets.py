"""agent.adapters.secrets: device secret encrypted at rest (AES-GCM), key file 0600 or systemd's, admin pw."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from agent.adapters.secrets import (
    CREDENTIAL_FILE,
    KEY_FILE,
    SYSTEMD_CREDENTIAL,
    EnrolledDevice,
    SecretStore,
    SecretStoreError,
    hash_password,
    verify_password,
)

DEVICE = EnrolledDevice("dev_1", "pk_dev_1", "sk_live_topsecret", "mer_1", "store_1", "http://c", "SN1",
                        "A920")


class TestSecretStore:
    def test_round_trip(self, tmp_path: Path) -> None:
        """What is saved loads back equal, secret included."""
        store = SecretStore(tmp_path)
        store.save(DEVICE)
        assert store.load() == DEVICE

    def test_secret_never_in_plaintext_on_disk(self, tmp_path: Path) -> None:
        """Neither the record nor any file in the state dir contains the secret in clear."""
        SecretStore(tmp_path).save(DEVICE)
        for path in tmp_path.iterdir():
            assert b"sk_live_topsecret" not in path.read_bytes()
        assert "secret_key" not in json.loads((tmp_path / CREDENTIAL_FILE).read_text())

    def test_files_are_private(self, tmp_path: Path) -> None:
        """The key file and the record are created with mode 0600."""
        SecretStore(tmp_path).save(DEVICE)
        for name in (KEY_FILE, CREDENTIAL_FILE):
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600

    def test_readable_key_file_is_refused(self, tmp_path: Path) -> None:
        """A key file others can read is refused with the chmod to run."""
        SecretStore(tmp_path).save(DEVICE)
        os.chmod(tmp_path / KEY_FILE, 0o644)
        with pytest.raises(SecretStoreError, match="chmod 600"):
            SecretStore(tmp_path).load()

    def test_systemd_credential_is_used_when_present(self, tmp_path: Path) -> None:
        """With $CREDENTIALS_DIRECTORY's key no key file is created in the state dir."""
        creds = tmp_path / "creds"
        creds.mkdir()
        (creds / SYSTEMD_CREDENTIAL).write_bytes(os.urandom(32))
        state = tmp_path / "state"
        SecretStore(state, creds).save(DEVICE)
        assert not (state / KEY_FILE).exists()
        assert SecretStore(state, creds).load() == DEVICE
        with pytest.raises(SecretStoreError):
            SecretStore(state).load()  # a different (new) key cannot decrypt it

    def test_tampered_record_is_refused(self, tmp_path: Path) -> None:
        """Changing the api_key breaks the AEAD binding and the load fails clearly."""
        SecretStore(tmp_path).save(DEVICE)
        path = tmp_path / CREDENTIAL_FILE
        record = json.loads(path.read_text())
        record["api_key"] = "pk_other"
        path.write_text(json.dumps(record))
        with pytest.raises(SecretStoreError, match="re-enroll"):
            SecretStore(tmp_path).load()

    def test_not_enrolled_is_none(self, tmp_path: Path) -> None:
        """No record → None, not an error."""
        assert SecretStore(tmp_path).load() is None

    def test_repr_hides_secret(self) -> None:
        """The record's repr shows no secret."""
        assert "topsecret" not in repr(DEVICE)


class TestAdminPassword:
    def test_verify(self) -> None:
        """The right password verifies, a wrong or malformed one does not."""
        stored = hash_password("correct horse")
        assert verify_password(stored, "correct horse")
        assert not verify_password(stored, "wrong")
        assert not verify_password("garbage", "correct horse")
