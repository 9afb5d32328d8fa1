"""admin partner|merchant|store|device|provider-config list and show: JSON views, never a secret or a hash.

Read-only: these commands refuse a database file that does not exist (docs/operations.md) instead of creating
an empty one. Provider configs show their provider and updated_at; the sealed credentials are not even read.
"""

from __future__ import annotations

import argparse
from typing import Any, TypeVar

from cloud.admin.registry import admin_command, arg
from cloud.deps import Deps
from cloud.domain.devices import Device
from cloud.domain.errors import NotFound
from cloud.domain.ports import ProviderConfigInfo
from cloud.domain.tenants import ClientPartner, Merchant, Store

T = TypeVar("T")


def _listed(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"object": "list", "data": items, "count": len(items)}


def _found(value: T | None, message: str, param: str) -> T:
    """The looked-up row, or NotFound naming the option that asked for it."""
    if value is None:
        raise NotFound(message, param=param)
    return value


def partner_json(p: ClientPartner) -> dict[str, Any]:
    """A partner's public fields."""
    return {"client_partner_id": p.id, "name": p.name, "created_at": int(p.created_at)}


def merchant_json(m: Merchant) -> dict[str, Any]:
    """A merchant's public fields."""
    return {"merchant_id": m.id, "client_partner_id": m.partner_id, "name": m.name,
            "created_at": int(m.created_at)}  # fmt: skip


def store_json(s: Store) -> dict[str, Any]:
    """A store's public fields; `code` is what requests send as merchant_store_id."""
    return {"store_id": s.id, "code": s.code, "name": s.name, "merchant_id": s.merchant_id,
            "client_partner_id": s.partner_id, "created_at": int(s.created_at)}  # fmt: skip


def device_json(d: Device) -> dict[str, Any]:
    """A device without its key material (the api_key names a credential; the secret is never stored)."""
    return {"device_id": d.id, "store_id": d.store_id, "merchant_id": d.merchant_id,
            "serial_number": d.serial_number, "model": d.model, "status": d.status.value,
            "created_at": int(d.created_at),
            "suspended_at": None if d.suspended_at is None else int(d.suspended_at)}  # fmt: skip


def config_json(c: ProviderConfigInfo) -> dict[str, Any]:
    """Which provider a store uses and when it was set: never the credentials."""
    return {"store_id": c.store_id, "provider": c.provider, "updated_at": int(c.updated_at)}


@admin_command("partner", "list", help="List ClientPartners (no keys, no hashes).", read_only=True)
async def partner_list(args: argparse.Namespace, deps: Deps) -> dict[str, Any]:
    """Print {object: list, data: [partner…]}."""
    return _listed([partner_json(p) for p in await deps.tenants.list_partners()])


@admin_command("partner", "show", help="Show a ClientPartner and its merchants.", read_only=True,
               args=[arg("--partner", required=True, help="client_partner_id (cp_…)")])  # fmt: skip
async def partner_show(args: argparse.Namespace, deps: Deps) -> dict[str, Any]:
    """Print the partner with its merchants."""
    found = await deps.tenants.get_partner(args.partner)
    partner = _found(found, f"no client partner {args.partner}", "partner")
    merchants = await deps.tenants.list_merchants(partner.id)
    return {**partner_json(partner), "merchants": [merchant_json(m) for m in merchants]}


@admin_command("merchant", "list", help="List merchants, of one partner with --partner.", read_only=True,
               args=[arg("--partner", help="only this client_partner_id (cp_…)")])  # fmt: skip
async def merchant_list(args: argparse.Namespace, deps: Deps) -> dict[str, Any]:
    """Print {object: list, data: [merchant…]}."""
    return _listed([merchant_json(m) for m in await deps.tenants.list_merchants(args.partner)])


@admin_command("merchant", "show", help="Show a merchant and its stores.", read_only=True,
               args=[arg("--merchant", required=True, help="merchant_id (mer_…)")])  # fmt: skip
async def merchant_show(args: argparse.Namespace, deps: Deps) -> dict[str, Any]:
    """Print the merchant with its stores."""
    found = await deps.tenants.get_merchant(args.merchant)
    merchant = _found(found, f"no merchant {args.merchant}", "merchant")
    stores = await deps.tenants.list_stores(merchant.id)
    return {**merchant_json(merchant), "stores": [store_json(s) for s in stores]}


@admin_command("store", "list", help="List stores, of one merchant with --merchant.", read_only=True,
               args=[arg("--merchant", help="only this merchant_id (mer_…)")])  # fmt: skip
async def store_list(args: argparse.Namespace, deps: Deps) -> dict[str, Any]:
    """Print {object: list, data: [store…]}."""
    return _listed([store_json(s) for s in await deps.tenants.list_stores(args.merchant)])


@admin_command("store", "show", help="Show a store, its provider configs and its devices.", read_only=True,
               args=[arg("--store", required=True, help="store_id (str_…)")])  # fmt: skip
async def store_show(args: argparse.Namespace, deps: Deps) -> dict[str, Any]:
    """Print the store with its provider configs (no credentials) and devices."""
    store = _found(await deps.tenants.get_store(args.store), f"no store {args.store}", "store")
    configs = await deps.tenants.list_provider_configs(store.id)
    devices = await deps.devices.list(store.id)
    return {**store_json(store), "provider_configs": [config_json(c) for c in configs],
            "devices": [device_json(d) for d in devices]}  # fmt: skip


@admin_command("device", "list", help="List enrolled devices, of one store with --store.", read_only=True,
               args=[arg("--store", help="only this store_id (str_…)")])  # fmt: skip
async def device_list(args: argparse.Namespace, deps: Deps) -> dict[str, Any]:
    """Print {object: list, data: [device…]}."""
    return _listed([device_json(d) for d in await deps.devices.list(args.store)])


@admin_command("provider-config", "list", help="List provider configs (provider and updated_at only).",
               read_only=True, args=[arg("--store", help="only this store_id (str_…)")])  # fmt: skip
async def provider_config_list(args: argparse.Namespace, deps: Deps) -> dict[str, Any]:
    """Print {object: list, data: [config…]}, never the credentials."""
    return _listed([config_json(c) for c in await deps.tenants.list_provider_configs(args.store)])


@admin_command("provider-config", "show", help="Show which provider a store uses (never its credentials).",
               read_only=True, args=[arg("--store", required=True, help="store_id (str_…)"),
                                     arg("--provider", help="one provider (default: all)")])  # fmt: skip
async def provider_config_show(args: argparse.Namespace, deps: Deps) -> dict[str, Any]:
    """Print the store's config of --provider, or all its configs."""
    _found(await deps.tenants.get_store(args.store), f"no store {args.store}", "store")
    configs = [c for c in await deps.tenants.list_provider_configs(args.store)
               if args.provider in (None, c.provider)]  # fmt: skip
    if args.provider is not None:
        if not configs:
            raise NotFound(f"store {args.store} has no {args.provider!r} config", param="provider")
        return config_json(configs[0])
    return {"store_id": args.store, "provider_configs": [config_json(c) for c in configs]}
