"""What the status page says about the terminal itself (docs/local-web.md, "The status page"): who it is
(identity), what it took today per method, its last 50 sales of any method, the 24 h activity history and the
receipt the printer got last. Times are unix ms; the page shows them in the store's time zone.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import fcntl
import socket
import struct
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from agent import __version__
from agent.adapters.store.activity import AnySaleFilter, last_receipt, list_all_sales, totals_by_method
from agent.adapters.store.history import read_history
from agent.deps import Deps

RECENT_SALES = 50
_SIOCGIFADDR = 0x8915  # Linux ioctl: an interface's IPv4 address (no DNS, no packet sent)
_IF_INET6 = Path("/proc/net/if_inet6")


def day_bounds(now_ms: int, tz: ZoneInfo) -> tuple[int, int, str]:
    """[start, end) of the store's calendar day holding `now_ms`, and its date (YYYY-MM-DD)."""
    local = datetime.fromtimestamp(now_ms / 1000, tz)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=1)).replace(tzinfo=tz)  # wall-clock midnight, DST-correct via zoneinfo
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000), start.date().isoformat()


def _ipv4(name: str) -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            packed = fcntl.ioctl(s.fileno(), _SIOCGIFADDR, struct.pack("256s", name[:15].encode()))
        except OSError:  # the interface has no IPv4 address
            return None
    return socket.inet_ntoa(packed[20:24])


def _ipv6() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    with contextlib.suppress(OSError):
        for line in _IF_INET6.read_text(encoding="ascii").splitlines():
            parts = line.split()
            if len(parts) >= 6:
                raw = array.array("B", bytes.fromhex(parts[0])).tobytes()
                found.append((parts[5], socket.inet_ntop(socket.AF_INET6, raw)))
    return found


def local_addresses() -> list[dict[str, str]]:
    """This machine's addresses per interface, read locally (loopback last)."""
    found: list[tuple[str, str]] = []
    with contextlib.suppress(OSError):
        for _index, name in socket.if_nameindex():
            if (address := _ipv4(name)) is not None:
                found.append((name, address))
    found.extend(_ipv6())
    found.sort(key=lambda t: (t[1].startswith(("127.", "::1")), t[0], t[1]))
    return [{"interface": name, "address": address} for name, address in found]


async def _certificate(ctx: Deps) -> dict[str, Any]:
    """The cloud certificate's state from the one CloudTrust of the process (docs/sync-protocol.md,
    "Verifying the cloud"): plain_http, not_checked, verified or failed with its reason."""
    provider = ctx.status_providers.get("certificate")
    if provider is not None:
        return await provider()
    return {"state": "plain_http" if urlsplit(ctx.cloud_url).scheme != "https" else "not_checked",
            "detail": None}


async def identity(ctx: Deps) -> dict[str, Any]:
    """Store, device, version, uptime, addresses and the cloud it talks to."""
    settings = ctx.settings
    return {
        "store_name": settings.store.name,
        "device_id": ctx.credentials.device_id if ctx.credentials else None,
        "serial": settings.agent.serial, "version": __version__,
        "started_at": ctx.started_at_ms, "uptime_s": max(0, ctx.clock_ms() - ctx.started_at_ms) / 1000,
        "addresses": await asyncio.to_thread(local_addresses), "cloud_url": ctx.cloud_url,
        "certificate": await _certificate(ctx), "timezone": settings.store.timezone,
        "listen": f"{settings.web.host}:{settings.web.port}",
    }


async def build_overview(ctx: Deps) -> dict[str, Any]:
    """The status page's identity, today, recent sales, history and last receipt blocks."""
    db = ctx.database
    now = ctx.clock_ms()
    start, end, date = day_bounds(now, ZoneInfo(ctx.settings.store.timezone))
    sales, _more = await list_all_sales(db, AnySaleFilter(limit=RECENT_SALES))
    receipt = await last_receipt(db)
    return {
        "object": "overview", "generated_at": now, "identity": await identity(ctx),
        "today": {"date": date, "from": start, "to": end,
                  "by_method": await totals_by_method(db, start, end)},
        "recent_sales": sales, "history": await read_history(db, now),
        "last_receipt": None if receipt is None else
        {"job_id": receipt[0], "receipt_id": receipt[1], "created_at": receipt[2]},
    }
