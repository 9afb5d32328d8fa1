"""admin partner rotate-secret | revoke-secret | secrets (docs/cloud-api.md#rotating-a-secret)."""

from __future__ import annotations

import argparse
import re
from typing import Any

from cloud.admin.registry import admin_command, arg
from cloud.deps import Deps
from cloud.domain.errors import ValidationFailed
from cloud.domain.tenants import CredentialSecrets, RevokeSecret, RotateSecret
from cloud.service import tenants as t

DEFAULT_OLD_EXPIRES_IN = "24h"
_DURATION = re.compile(r"([1-9][0-9]{0,7})([smhd]?)")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """'90', '90s', '30m', '24h', '7d' -> seconds; anything else is refused."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValidationFailed("--old-expires-in must be a number with s, m, h or d, e.g. 24h",
                               param="old_expires_in")  # fmt: skip
    return int(match.group(1)) * _UNIT[match.group(2)]


def _secrets(deps: Deps) -> CredentialSecrets:
    if deps.secrets is None:  # every bootstrap sets it; a hand-built Deps may not
        raise ValidationFailed("this gateway has no secret store configured", param="db")
    return deps.secrets


_KEY = arg("--api-key", help="which of the partner's keys (needed only if it has several)")


@admin_command(
    "partner", "rotate-secret",
    help="Give a partner key a new secret (shown once); the old one keeps working until revoke-secret or "
         f"--old-expires-in (default {DEFAULT_OLD_EXPIRES_IN}).",
    args=[arg("--partner", required=True, help="client_partner_id (cp_…)"), _KEY,
          arg("--old-expires-in", default=DEFAULT_OLD_EXPIRES_IN,
              help="how long the old secret still works: 90s, 30m, 24h, 7d (at most 30d)")],
)  # fmt: skip
async def rotate_secret(args: argparse.Namespace, deps: Deps) -> dict[str, Any]:
    """Print {client_partner_id, api_key, secret_key, previous_expires_at}."""
    cmd = RotateSecret(args.partner, parse_duration(args.old_expires_in), args.api_key)
    made = await t.rotate_partner_secret(cmd, credentials=deps.credentials, secrets=_secrets(deps),
                                         clock=deps.clock)  # fmt: skip
    return {"client_partner_id": args.partner, "api_key": made.api_key, "secret_key": made.secret_key,
            "previous_expires_at": int(made.previous_expires_at)}  # fmt: skip


@admin_command(
    "partner", "revoke-secret",
    help="Stop a partner key's previous secret now (after a rotation, once every client uses the new one).",
    args=[arg("--partner", required=True, help="client_partner_id (cp_…)"), _KEY],
)  # fmt: skip
async def revoke_secret(args: argparse.Namespace, deps: Deps) -> dict[str, Any]:
    """Print {client_partner_id, api_key, revoked: true}."""
    api_key = await t.revoke_partner_secret(RevokeSecret(args.partner, args.api_key),
                                            credentials=deps.credentials, secrets=_secrets(deps),
                                            clock=deps.clock)  # fmt: skip
    return {"client_partner_id": args.partner, "api_key": api_key, "revoked": True}


@admin_command(
    "partner", "secrets",
    help="List the live secrets of a partner's keys (its devices' too): which, since, until, last used.",
    read_only=True,
    args=[arg("--partner", required=True, help="client_partner_id (cp_…)"),
          arg("--device", help="only this device's key (dev_…)")],
)  # fmt: skip
async def list_secrets(args: argparse.Namespace, deps: Deps) -> dict[str, Any]:
    """Print {data: [{api_key, kind, device_id, secret, created_at, expires_at, last_used_at}]} (never a
    secret or its hash; last_used_at is at most a minute behind)."""
    infos = await _secrets(deps).list_secrets(args.partner, args.device, deps.clock())
    return {"data": [{"api_key": i.api_key, "kind": i.kind.value, "device_id": i.device_id,
                      "secret": i.slot.value, "created_at": _int(i.created_at),
                      "expires_at": _int(i.expires_at),
                      "last_used_at": _int(i.last_used_at)} for i in infos]}  # fmt: skip


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)
