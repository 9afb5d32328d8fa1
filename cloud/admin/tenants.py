"""admin partner create | merchant create | store create | provider-config set."""

from __future__ import annotations

import argparse
import json
from typing import Any

from cloud.admin import secrets as _secret_commands  # noqa: F401 — `partner rotate-secret` etc. register too
from cloud.admin.registry import admin_command, arg
from cloud.deps import Deps
from cloud.domain import commands as c
from cloud.domain.errors import ValidationFailed
from cloud.service import tenants as t


@admin_command(
    "partner", "create",
    help="Create a ClientPartner and its HMAC key pair (secret shown once; only its SHA-256 is stored).",
    args=[
        arg("--name", required=True, help="display name"),
        arg("--api-key", help="use this api_key (default: random pk_…)"),
        arg("--secret-key", help="use this secret_key (default: random sk_…)"),
    ],
)  # fmt: skip
async def partner_create(args: argparse.Namespace, deps: Deps) -> dict[str, Any]:
    """Print {client_partner_id, api_key, secret_key, name}."""
    if (args.api_key is None) != (args.secret_key is None):
        raise ValidationFailed("give both --api-key and --secret-key, or neither", param="api_key")
    made = await t.create_partner(
        c.CreateClientPartner(args.name, args.api_key, args.secret_key),
        tenants=deps.tenants,
        clock=deps.clock,
    )
    return {"client_partner_id": made.partner.id, "api_key": made.api_key, "secret_key": made.secret_key,
            "name": made.partner.name}  # fmt: skip


@admin_command(
    "merchant", "create",
    help="Create a Merchant under a ClientPartner.",
    args=[arg("--partner", required=True, help="client_partner_id (cp_…)"), arg("--name", required=True)],
)  # fmt: skip
async def merchant_create(args: argparse.Namespace, deps: Deps) -> dict[str, Any]:
    """Print {merchant_id, client_partner_id, name}."""
    merchant = await t.create_merchant(c.CreateMerchant(args.partner, args.name), tenants=deps.tenants,
                                       clock=deps.clock)  # fmt: skip
    return {"merchant_id": merchant.id, "client_partner_id": merchant.partner_id, "name": merchant.name}


@admin_command(
    "store", "create",
    help="Create a Store under a Merchant; --code is what requests send as merchant_store_id.",
    args=[arg("--merchant", required=True, help="merchant_id (mer_…)"), arg("--code", required=True),
          arg("--name", help="display name (default: the code)")],
)  # fmt: skip
async def store_create(args: argparse.Namespace, deps: Deps) -> dict[str, Any]:
    """Print {store_id, code, merchant_id, client_partner_id, name}."""
    store = await t.create_store(c.CreateStore(args.merchant, args.code, args.name), tenants=deps.tenants,
                                 clock=deps.clock)  # fmt: skip
    return {"store_id": store.id, "code": store.code, "merchant_id": store.merchant_id,
            "client_partner_id": store.partner_id, "name": store.name}  # fmt: skip


def _credentials(text: str) -> dict[str, str]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise ValidationFailed("--credentials must be a JSON object", param="credentials") from err
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValidationFailed("--credentials must be a JSON object of strings", param="credentials")
    return value


@admin_command(
    "provider-config", "set",
    help="Store a provider's credentials for a store (encrypted at rest).",
    args=[arg("--store", required=True, help="store_id (str_…)"), arg("--provider", required=True),
          arg("--credentials", required=True, help='JSON object, e.g. \'{"api_key": "…"}\'')],
)  # fmt: skip
async def provider_config_set(args: argparse.Namespace, deps: Deps) -> dict[str, Any]:
    """Print {store_id, provider, updated_at} (never the credentials)."""
    config = await t.set_provider_config(
        c.SetProviderConfig(args.store, args.provider, _credentials(args.credentials)),
        tenants=deps.tenants, providers=deps.providers, clock=deps.clock,
    )  # fmt: skip
    return {"store_id": config.store_id, "provider": config.provider, "updated_at": int(config.updated_at)}
