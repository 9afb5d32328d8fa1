"""The device credential at rest: the secret key encrypted with AES-GCM (cryptography), never logged.

The 256-bit key comes from systemd's credential directory when the unit provides one
(`LoadCredentialEncrypted=credential-key` → `$CREDENTIALS_DIRECTORY/credential-key`), otherwise from
`<state_dir>/credential.key`, created 0600 on first use and refused if anyone else can read it. The caller
passes the credentials directory in (adapters never read the environment).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from agent.settings import Settings
from sync.client import DeviceCredential

KEY_FILE = "credential.key"
CREDENTIAL_FILE = "device_credential.json"
SYSTEMD_CREDENTIAL = "credential-key"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


class SecretStoreError(RuntimeError):
    """The credential cannot be read or written; the message never contains a secret."""


@dataclass(frozen=True, slots=True)
class EnrolledDevice:
    """What enrollment stored; `secret_key` is hidden from repr and only ever written encrypted."""

    device_id: str
    api_key: str
    secret_key: str = field(repr=False)
    merchant_id: str = ""
    store_id: str = ""
    cloud_url: str = ""
    serial_number: str = ""
    model: str = ""
    enrolled_at: int = 0
    admin_password_hash: str = field(default="", repr=False)

    def credential(self) -> DeviceCredential:
        """The HMAC credential the SyncClient signs with."""
        return DeviceCredential(self.device_id, self.api_key, self.secret_key)


def _write_private(path: Path, data: bytes) -> None:
    """Atomically replace `path` with a 0600 file holding `data` (fsynced before the rename)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    with contextlib.suppress(OSError):
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


class SecretStore:
    """Reads and writes the enrolled device record under `state_dir`."""

    def __init__(self, state_dir: Path, credentials_dir: Path | None = None) -> None:
        self.state_dir, self.credentials_dir = state_dir, credentials_dir

    @property
    def path(self) -> Path:
        """The credential record file."""
        return self.state_dir / CREDENTIAL_FILE

    def _key(self) -> bytes:
        if self.credentials_dir is not None and (self.credentials_dir / SYSTEMD_CREDENTIAL).is_file():
            raw = (self.credentials_dir / SYSTEMD_CREDENTIAL).read_bytes()
            return raw[:32] if len(raw) >= 32 else hashlib.sha256(raw).digest()
        path = self.state_dir / KEY_FILE
        if not path.exists():
            self.state_dir.mkdir(parents=True, exist_ok=True)
            _write_private(path, AESGCM.generate_key(bit_length=256))
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise SecretStoreError(f"{path} is readable by others (mode {mode:o}); run: chmod 600 {path}")
        key = path.read_bytes()
        if len(key) != 32:
            raise SecretStoreError(f"{path} is not a 32-byte key")
        return key

    def save(self, device: EnrolledDevice) -> None:
        """Encrypt the secret key (AAD binds it to the device id and api key) and write the record 0600."""
        nonce = secrets.token_bytes(12)
        aad = f"{device.device_id}:{device.api_key}".encode()
        sealed = AESGCM(self._key()).encrypt(nonce, device.secret_key.encode("utf-8"), aad)
        record = {k: v for k, v in asdict(device).items() if k != "secret_key"}
        record["secret_key_sealed"] = base64.b64encode(nonce + sealed).decode("ascii")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        _write_private(self.path, json.dumps(record, indent=1, sort_keys=True).encode("utf-8"))

    def load(self) -> EnrolledDevice | None:
        """The enrolled device, or None if this device was never enrolled."""
        try:
            record = json.loads(self.path.read_text(encoding="utf-8"))
            blob = base64.b64decode(record.pop("secret_key_sealed"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError) as err:
            raise SecretStoreError(f"{self.path} is unreadable or damaged; re-enroll the device") from err
        aad = f"{record.get('device_id')}:{record.get('api_key')}".encode()
        try:
            secret = AESGCM(self._key()).decrypt(blob[:12], blob[12:], aad).decode("utf-8")
        except InvalidTag as err:
            raise SecretStoreError("the stored credential does not decrypt with this device's key; "
                                   "re-enroll the device") from err
        try:
            return EnrolledDevice(secret_key=secret, **record)
        except TypeError as err:
            raise SecretStoreError(f"{self.path} has unexpected fields; re-enroll the device") from err


def hash_password(password: str) -> str:
    """scrypt$n$r$p$salt$hash (hex), for the per-device admin password."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


def verify_password(stored: str, candidate: str) -> bool:
    """Constant-time check of a candidate against `hash_password` output; False on any malformed input."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(candidate.encode("utf-8"), salt=bytes.fromhex(salt),
                             n=int(n), r=int(r), p=int(p))
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)


def new_admin_password() -> str:
    """A fresh per-device admin password (docs/local-web.md): 16 URL-safe characters, ~96 bits."""
    return secrets.token_urlsafe(12)


def resolve_credential(settings: Settings,
                       credentials_dir: Path | None) -> tuple[DeviceCredential, str] | str:
    """The credential and cloud URL to sync with, or why there is none (not enrolled, damaged store)."""
    try:
        enrolled = SecretStore(settings.agent.state_dir, credentials_dir).load()
    except SecretStoreError as err:
        return str(err)
    if enrolled is not None:
        return enrolled.credential(), enrolled.cloud_url or settings.cloud.url
    cloud = settings.cloud
    secret = cloud.secret_key.get_secret_value()
    if cloud.device_id and cloud.api_key and secret:
        return DeviceCredential(cloud.device_id, cloud.api_key, secret), cloud.url
    return "not enrolled: run mpac-agent enroll --cloud URL --code CODE"
