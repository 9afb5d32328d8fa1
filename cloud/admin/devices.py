"""admin activation-code | device suspend | device show."""

from __future__ import annotations

import argparse
from typing import Any

from cloud.admin.registry import admin_command, arg
from cloud.deps import Deps
from cloud.domain.devices import IssueActivationCode, SuspendDevice
from cloud.service import devices as dv


@admin_command(
    "activation-code",
    help="Mint a single-use 12-character activation code for a store, valid 24 h (only its hash is stored).",
    args=[arg("--store", required=True, help="store_id (str_…)")],
)  # fmt: skip
async def activation_code(args: argparse.Namespace, deps: Deps) -> dict[str, Any]:
    """Print {activation_code, expires_at, store_id, merchant_id, store_code}."""
    issued = await dv.issue_activation_code(IssueActivationCode(args.store), devices=deps.devices,
                                            tenants=deps.tenants, clock=deps.clock)  # fmt: skip
    return {"activation_code": issued.code, "expires_at": int(issued.expires_at), "store_id": issued.store.id,
            "merchant_id": issued.store.merchant_id, "store_code": issued.store.code}  # fmt: skip


@admin_command(
    "device", "suspend",
    help="Suspend a device: its key is refused with 403 from the next request on.",
    args=[arg("--device", required=True, help="device_id (dev_…)")],
)  # fmt: skip
async def device_suspend(args: argparse.Namespace, deps: Deps) -> dict[str, Any]:
    """Print {device_id, status, suspended_at}."""
    device = await dv.suspend_device(SuspendDevice(args.device), devices=deps.devices, clock=deps.clock)
    at = None if device.suspended_at is None else int(device.suspended_at)
    return {"device_id": device.id, "status": device.status.value, "suspended_at": at}


@admin_command(
    "device", "show",
    help="Show a device and its sync state: chain head, chain_broken / gap flags, clock offset, anomalies.",
    read_only=True,
    args=[arg("--device", required=True, help="device_id (dev_…)"),
          arg("--anomalies", type=int, default=20, help="how many anomalies to list (default 20)")],
)  # fmt: skip
async def device_show(args: argparse.Namespace, deps: Deps) -> dict[str, Any]:
    """Print the device, its sync state and its first anomalies."""
    view = await dv.device_view(args.device, None, devices=deps.devices, sync=deps.uow().sync,
                                anomalies=max(0, min(args.anomalies, 1000)))  # fmt: skip
    return dv.view_json(view)
