"""admin webhook add | list | disable | enable | delete | redeliver | attempts
(docs/cloud-api.md#webhooks)."""

from __future__ import annotations

import argparse
from typing import Any

from cloud.admin.registry import admin_command, arg
from cloud.deps import Deps
from cloud.domain.errors import NotFound, StorageUnavailable
from cloud.domain.ports import WebhookRepository
from cloud.domain.webhooks import TargetPolicy
from cloud.service import webhooks as wh

_ENDPOINT = arg("--endpoint", required=True, help="webhook endpoint id (we_…)")
_EVENT = arg("--event", required=True, help="event id (evt_…)")


def _repo(deps: Deps) -> WebhookRepository:
    if deps.webhooks is None:
        raise StorageUnavailable("this database has no webhook storage")
    return deps.webhooks


@admin_command(
    "webhook", "add",
    help="Add a webhook endpoint for a ClientPartner; its whsec_ signing secret is shown once.",
    args=[arg("--partner", required=True, help="client_partner_id (cp_…)"),
          arg("--url", required=True, help="https://… (http:// only to loopback with --allow-loopback)"),
          arg("--events", help="comma-separated event types (default: every type)"),
          arg("--allow-loopback", action="store_true", help="accept a loopback target (tests, demos)"),
          arg("--allow-private", action="store_true", help="accept a private or link-local target")],
)  # fmt: skip
async def webhook_add(args: argparse.Namespace, deps: Deps) -> dict[str, Any]:
    """Print the endpoint and its secret."""
    policy = TargetPolicy(args.allow_loopback, args.allow_private)
    cmd = wh.AddEndpoint(args.partner, args.url, args.events)
    endpoint = await wh.add_endpoint(cmd, webhooks=_repo(deps), tenants=deps.tenants, policy=policy,
                                     clock=deps.clock)  # fmt: skip
    return {**wh.endpoint_json(endpoint), "secret": endpoint.secret}


@admin_command("webhook", "list", help="List webhook endpoints (never their secrets).", read_only=True,
               args=[arg("--partner", help="only this partner's (cp_…)")])  # fmt: skip
async def webhook_list(args: argparse.Namespace, deps: Deps) -> dict[str, Any]:
    """Print {object: list, data, count}."""
    data = [wh.endpoint_json(e) for e in await _repo(deps).list_endpoints(args.partner)]
    return {"object": "list", "data": data, "count": len(data)}


@admin_command("webhook", "disable", help="Stop sending to an endpoint.", args=[_ENDPOINT])
async def webhook_disable(args: argparse.Namespace, deps: Deps) -> dict[str, Any]:
    """Print the endpoint."""
    found = await wh.set_enabled(args.endpoint, False, webhooks=_repo(deps), clock=deps.clock)
    return wh.endpoint_json(found)


@admin_command("webhook", "enable", help="Send to an endpoint again (also after an auto-disable).",
               args=[_ENDPOINT])  # fmt: skip
async def webhook_enable(args: argparse.Namespace, deps: Deps) -> dict[str, Any]:
    """Print the endpoint."""
    found = await wh.set_enabled(args.endpoint, True, webhooks=_repo(deps), clock=deps.clock)
    return wh.endpoint_json(found)


@admin_command("webhook", "delete", help="Delete an endpoint with its deliveries and log.", args=[_ENDPOINT])
async def webhook_delete(args: argparse.Namespace, deps: Deps) -> dict[str, Any]:
    """Print {id, deleted}."""
    await _repo(deps).delete_endpoint(args.endpoint)
    return {"id": args.endpoint, "deleted": True}


@admin_command("webhook", "redeliver", help="Send an event again to every endpoint subscribed to it.",
               args=[_EVENT])  # fmt: skip
async def webhook_redeliver(args: argparse.Namespace, deps: Deps) -> dict[str, Any]:
    """Print {event_id, queued}."""
    queued = await _repo(deps).redeliver(wh.check_event_id(args.event), deps.clock())
    if queued == 0:
        raise NotFound("no enabled endpoint subscribes to this event", param="event")
    return {"event_id": args.event, "queued": queued}


@admin_command("webhook", "attempts", help="The delivery log of an event.", read_only=True, args=[_EVENT])
async def webhook_attempts(args: argparse.Namespace, deps: Deps) -> dict[str, Any]:
    """Print {object: list, data, count}."""
    data = list(await _repo(deps).attempts(wh.check_event_id(args.event)))
    return {"object": "list", "data": data, "count": len(data)}
