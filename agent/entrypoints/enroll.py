"""`mpac-agent enroll --cloud URL --code CODE` (docs/cloud-api.md): activate with the cloud, store the
credential
encrypted, generate the per-device admin password (docs/local-web.md) and show it once."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.adapters.secrets import (
    EnrolledDevice,
    SecretStore,
    SecretStoreError,
    hash_password,
    new_admin_password,
)
from agent.adapters.store.views import unsynced_count
from agent.settings import Settings, cloud_trust
from sync.errors import CloudNotTrusted, CloudUnreachable, EnrollmentError
from sync.http import CloudSession, encode_json
from sync.tls import CloudTrust

ACTIVATE_PATH = "/v1/devices/activate"
_MESSAGES = {
    404: "The activation code is unknown. Check it, or ask for a new one "
         "(mpac-pgw admin activation-code --store ID).",
    409: "The activation code was already used. Each code enrolls one device; ask for a new one.",
    410: "The activation code has expired (codes are valid 24 h). Ask for a new one.",
}


class Activation(BaseModel):
    """The 201 body of POST /v1/devices/activate."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    device_id: str = Field(min_length=1, max_length=64)
    api_key: str = Field(min_length=1, max_length=128)
    secret_key: str = Field(min_length=1, max_length=256, repr=False)
    merchant_id: str = Field(min_length=1)
    store_id: str = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class EnrollResult:
    """The stored device and the admin password to show exactly once."""

    device: EnrolledDevice
    admin_password: str

    def to_json(self) -> dict[str, Any]:
        """What the CLI prints (the secret key never; the admin password once)."""
        d = self.device
        return {"device_id": d.device_id, "merchant_id": d.merchant_id, "store_id": d.store_id,
                "cloud_url": d.cloud_url, "admin_password": self.admin_password}


def _server_message(raw: bytes) -> str:
    try:
        error = json.loads(raw).get("error", {})
        return str(error.get("message", ""))[:200]
    except (ValueError, AttributeError):
        return ""


async def activate(cloud_url: str, code: str, serial_number: str, model: str, *,
                   timeout_s: float = 15.0, session: aiohttp.ClientSession | None = None,
                   trust: CloudTrust | None = None) -> Activation:
    """POST the code; return the credential or raise EnrollmentError with a message for a technician.

    `session`: an aiohttp session to borrow (bench/fleet.py gives each virtual terminal its own); `trust`:
    how the cloud is verified (default: the system CA store; docs/sync-protocol.md, "Verifying the cloud")."""
    body = encode_json({"code": code.strip(), "serial_number": serial_number, "model": model})
    # Unsigned: the device has no credential yet; the one-time code authenticates it (docs/cloud-api.md).
    try:
        async with CloudSession(cloud_url, timeout_s=timeout_s, session=session, trust=trust) as cloud:
            reply = await cloud.request("POST", ACTIVATE_PATH, body=body, signed=False)
    except CloudNotTrusted as err:  # the code was never sent: it is still good once the trust is fixed
        raise EnrollmentError(f"The cloud at {cloud_url} is not trusted, nothing was sent: {err}") from err
    except CloudUnreachable as err:
        raise EnrollmentError(f"Cannot reach the cloud at {cloud_url}: {type(err.__cause__).__name__}. "
                              "Check the URL and the network.") from err
    status, raw = reply.status, reply.body
    if status in _MESSAGES:
        raise EnrollmentError(_MESSAGES[status])
    if status != 201:
        detail = _server_message(raw)
        suffix = f": {detail}" if detail else ""
        raise EnrollmentError(f"The cloud refused the activation ({status}){suffix}.")
    try:
        return Activation.model_validate_json(raw)
    except ValidationError as err:
        raise EnrollmentError("The cloud's activation answer is malformed; nothing was stored.") from err


async def enroll(store: SecretStore, cloud_url: str, code: str, serial_number: str,
                 model: str, *, trust: CloudTrust | None = None) -> EnrollResult:
    """Activate, then store the credential encrypted with a freshly hashed admin password."""
    got = await activate(cloud_url, code, serial_number, model, trust=trust)
    password = new_admin_password()
    device = EnrolledDevice(
        device_id=got.device_id, api_key=got.api_key, secret_key=got.secret_key, merchant_id=got.merchant_id,
        store_id=got.store_id, cloud_url=cloud_url.rstrip("/"), serial_number=serial_number, model=model,
        enrolled_at=int(time.time()), admin_password_hash=hash_password(password))
    store.save(device)
    return EnrollResult(device, password)


def credentials_dir_from(env: dict[str, str]) -> Path | None:
    """systemd's $CREDENTIALS_DIRECTORY, read by the entry point and passed down."""
    value = env.get("CREDENTIALS_DIRECTORY")
    return Path(value) if value else None


def add_enroll_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Register `mpac-agent enroll --cloud URL --code CODE [--serial S] [--model M]` (no --config)."""
    p = sub.add_parser("enroll", help="activate this device with the cloud (one-time code)",
                       description="Activate this device with a one-time code from "
                                   "`mpac-pgw admin activation-code --store ID`.")
    p.add_argument("--cloud", required=True, help="cloud base URL, e.g. https://pgw.example.com")
    p.add_argument("--code", required=True, help="the 12-character activation code")
    p.add_argument("--serial", help="device serial number (default: [agent].serial from the config)")
    p.add_argument("--model", default="SmartPOS", help="device model (default SmartPOS)")
    p.add_argument("--force", action="store_true", help="re-enroll even with sales not yet synced")
    p.add_argument("--ca-file", type=Path, help="PEM file of the CA that signed the cloud's certificate "
                   "(a private PKI; default: [cloud] ca_file, else the system CA store)")
    return p


def _guard_reenroll(store: SecretStore, db_path: Path, force: bool) -> None:
    """Re-enrolling moves the chain to a new device id: refuse while the old one still has sales to send."""
    current = store.load()
    pending = unsynced_count(db_path) if current is not None else 0
    if pending and not force:
        raise EnrollmentError(f"This terminal is enrolled as {current.device_id if current else '?'} and "
                              f"{pending} sale(s) are not synced yet. Run `mpac-agent sync --now` first, "
                              "or pass --force to re-enroll anyway.")


def run_enroll(args: argparse.Namespace, settings: Settings, env: dict[str, str]) -> int:
    """Enroll and print the result JSON once (the admin password is shown only here); 1 on failure."""
    store = SecretStore(settings.agent.state_dir, credentials_dir_from(env))
    try:
        _guard_reenroll(store, settings.agent.db_path, args.force)
        trust = cloud_trust(settings, ca_file=args.ca_file)
        result = asyncio.run(enroll(store, args.cloud, args.code, args.serial or settings.agent.serial,
                                    args.model, trust=trust))
    except (EnrollmentError, SecretStoreError, OSError) as err:
        print(json.dumps({"error": {"code": "enrollment_failed", "message": str(err)}}), file=sys.stderr)
        return 1
    print(json.dumps(result.to_json(), indent=1))
    print("Write down the admin password now: it is shown only once and is needed for admin actions.",
          file=sys.stderr)
    return 0
