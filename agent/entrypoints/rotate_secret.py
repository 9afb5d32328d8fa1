"""`mpac-agent rotate-secret`: replace this device's secret through the cloud
(docs/cloud-api.md#rotating-a-device-secret) and store the new one encrypted exactly as enrollment stored the
first (agent/adapters/secrets.py).

A lost answer cannot lock the terminal out: the cloud keeps the old secret working for 7 days and answers a
retry signed with it with the very same new secret, until the new one is first used. So this command simply
retries (and may be run again later): the old secret stays stored until the new one has been received."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from dataclasses import replace

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.adapters.secrets import EnrolledDevice, SecretStore, SecretStoreError
from agent.entrypoints.enroll import credentials_dir_from
from agent.settings import Settings, cloud_trust
from sync.errors import CloudNotTrusted, CloudUnreachable
from sync.http import CloudReply, CloudSession
from sync.tls import CloudTrust

ATTEMPTS = 4
PAUSE_S = 1.5  # > 1 s: a retry must carry a new timestamp, else its signature is a replay (401)
_MESSAGES = {
    401: "The cloud refused this terminal's stored secret (expired or revoked); re-enroll it.",
    403: "This device is suspended; ask the administrator.",
    409: "The cloud already replaced this secret and the new one has been used; the stored secret is stale. "
         "Re-enroll this terminal.",
}


class RotationError(RuntimeError):
    """The rotation did not happen (or its answer was unusable); the stored secret is unchanged."""


class Rotated(BaseModel):
    """The 200 body of POST /v1/devices/{id}/rotate-secret."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    device_id: str = Field(min_length=1, max_length=64)
    api_key: str = Field(min_length=1, max_length=128)
    secret_key: str = Field(min_length=8, max_length=256, repr=False)
    previous_expires_at: int


async def _send(cloud: CloudSession, path: str, attempts: int, pause_s: float) -> CloudReply:
    """POST, retried on a network error, 429 or 5xx (the same new secret comes back: see the module doc)."""
    for attempt in range(attempts):
        last = attempt == attempts - 1
        try:
            reply = await cloud.request("POST", path, body=b"{}")
        except CloudUnreachable as err:
            if last:
                raise RotationError(f"Cannot reach the cloud: {err}. Nothing changed; run it again.") from err
        else:
            if (reply.status < 500 and reply.status != 429) or last:
                return reply
        await asyncio.sleep(pause_s)
    raise AssertionError("unreachable")  # pragma: no cover -- the last attempt returns or raises


async def rotate_secret(device: EnrolledDevice, *, trust: CloudTrust | None = None, timeout_s: float = 15.0,
                        clock: Callable[[], float] = time.time, attempts: int = ATTEMPTS,
                        pause_s: float = PAUSE_S) -> Rotated:  # fmt: skip
    """Ask the cloud for a new secret, signed with the stored one; RotationError with a clear message."""
    path = f"/v1/devices/{device.device_id}/rotate-secret"
    try:
        async with CloudSession(device.cloud_url, device.credential(), timeout_s=timeout_s, clock=clock,
                                trust=trust) as cloud:  # fmt: skip
            reply = await _send(cloud, path, attempts, pause_s)
    except CloudNotTrusted as err:
        raise RotationError(f"The cloud is not trusted, nothing was sent: {err}") from err
    if reply.status in _MESSAGES:
        raise RotationError(_MESSAGES[reply.status])
    if reply.status != 200:
        raise RotationError(f"The cloud refused the rotation ({reply.status}); nothing changed.")
    try:
        got = Rotated.model_validate_json(reply.body)
    except ValidationError as err:
        raise RotationError("The cloud's answer is malformed; nothing was stored. Run it again.") from err
    if (got.device_id, got.api_key) != (device.device_id, device.api_key):
        raise RotationError("The cloud answered for another device; nothing was stored.")
    return got


async def rotate_and_store(
    store: SecretStore, *, trust: CloudTrust | None = None, timeout_s: float = 15.0,
    clock: Callable[[], float] = time.time,
) -> tuple[EnrolledDevice, Rotated]:  # fmt: skip
    """Rotate and save the new secret encrypted in place of the old (same file, same key)."""
    device = store.load()
    if device is None:
        raise RotationError("This terminal is not enrolled (run `mpac-agent enroll` first).")
    got = await rotate_secret(device, trust=trust, timeout_s=timeout_s, clock=clock)
    updated = replace(device, secret_key=got.secret_key)
    store.save(updated)
    return updated, got


def add_rotate_secret_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Register `mpac-agent rotate-secret`."""
    return sub.add_parser("rotate-secret", help="replace this device's secret with a new one from the cloud",
                          description="Ask the cloud for a new device secret (signed with the current one) "
                                      "and store it encrypted; the old one works 7 more days. Restart the "
                                      "agent afterwards so it signs with the new secret.")  # fmt: skip


def run_rotate_secret(args: argparse.Namespace, settings: Settings, env: dict[str, str]) -> int:
    """Rotate, store and print {device_id, previous_expires_at} (never a secret); 1 on failure."""
    store = SecretStore(settings.agent.state_dir, credentials_dir_from(env))
    try:
        device, got = asyncio.run(rotate_and_store(store, trust=cloud_trust(settings),
                                                   timeout_s=settings.cloud.timeout_s))  # fmt: skip
    except (RotationError, SecretStoreError, OSError) as err:
        print(json.dumps({"error": {"code": "rotation_failed", "message": str(err)}}), file=sys.stderr)
        return 1
    print(json.dumps({"device_id": device.device_id, "rotated": True,
                      "previous_expires_at": got.previous_expires_at}, indent=1))  # fmt: skip
    return 0
