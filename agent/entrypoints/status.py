"""`mpac-agent status [--json]`: the sync picture for a technician, from the running agent or its database.

When the agent of this configuration answers GET /api/status on its configured address, that is the source
(`"source": "agent"`); otherwise the database is opened read-only (`"source": "database"`). An agent of
another configuration on the same port (another state directory) is never taken for this one. Nothing is
written either way.

JSON: {"source", "agent_running", "enrolled", "connected", "pending_count", "pending_amount": {cur: minor},
"oldest_pending_at", "oldest_pending_age_s", "last_ack_at", "last_contact_at", "last_error", "last_error_at",
"quarantined_count", "clock_offset_ms", "qr_pending": n, "certificate": {…} or null}. Times are unix ms, ages
seconds. `certificate` is the running agent's last verification of the cloud (docs/sync-protocol.md,
"Verifying the cloud"); null when the agent is not running (a failure then still shows in last_error).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from agent.adapters.store.views import offline_status
from agent.domain.money import format_money
from agent.settings import Settings

AGENT_TIMEOUT_S = 2.0
_FIELDS = ("connected", "pending_count", "pending_amount", "oldest_pending_at", "last_ack_at",
           "last_contact_at", "last_error", "last_error_at", "quarantined_count", "clock_offset_ms")


def agent_url(settings: Settings) -> str:
    """Where the running agent listens (a wildcard bind is reached on loopback)."""
    host = settings.web.host
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 -- recognising a wildcard bind, not binding one
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.web.port}"


def fetch_agent_status(settings: Settings, timeout_s: float = AGENT_TIMEOUT_S) -> dict[str, Any] | None:
    """The running agent's /api/status, or None when it does not answer (not running, port 0, …)."""
    if settings.web.port == 0:
        return None
    req = urllib.request.Request(agent_url(settings) + "/api/status",  # noqa: S310 -- http from our config
                                 headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # noqa: S310
            body = json.loads(resp.read())
    except (OSError, ValueError, urllib.error.URLError):
        return None
    return body if isinstance(body, dict) and body.get("object") == "status" else None


def is_this_agent(settings: Settings, live: dict[str, Any]) -> bool:
    """Whether the agent answering on the configured port runs with THIS configuration: same state directory
    (another config may share the web port); an agent too old to say compares by serial."""
    device = live.get("device") or {}
    state_dir = device.get("state_dir")
    if isinstance(state_dir, str):
        return Path(state_dir).resolve() == settings.agent.state_dir.resolve()
    return bool(device.get("serial") == settings.agent.serial)


Agents = tuple[dict[str, Any] | None, dict[str, Any] | None]


def own_agent_status(settings: Settings) -> Agents:
    """(this configuration's agent's /api/status or None, another agent's on the same port or None)."""
    live = fetch_agent_status(settings)
    if live is None:
        return None, None
    return (live, None) if is_this_agent(settings, live) else (None, live)


def other_agent_note(settings: Settings, other: dict[str, Any]) -> str:
    """The one line that says a foreign agent holds this configuration's port."""
    serial = (other.get("device") or {}).get("serial") or "?"
    return f"another agent (serial {serial}) answers on port {settings.web.port}"


def read_db_status(db_path: Path) -> dict[str, Any] | None:
    """Sync status straight from the database, read-only; None when there is no database yet."""
    return asyncio.run(offline_status(db_path))


def collect_status(settings: Settings, enrolled: bool, agents: Agents | None = None) -> dict[str, Any]:
    """The status JSON (see the module doc); raises sqlite3.Error when the database cannot be read.

    `agents` is own_agent_status() when the caller already asked; an agent of another configuration on the
    same port is never the source (`"other_agent"` names it)."""
    now_ms = int(time.time() * 1000)
    live, other = own_agent_status(settings) if agents is None else agents
    out: dict[str, Any] = {"source": "agent" if live else "database", "agent_running": live is not None,
                           "enrolled": enrolled}
    if other is not None:
        out["other_agent"] = other_agent_note(settings, other)
    if live is not None:
        found_sync = live.get("sync")
        sync: dict[str, Any] = found_sync if isinstance(found_sync, dict) else {}
        queue = live.get("queue", {})
        src = {**{k: sync.get(k) for k in _FIELDS}, "pending_count": queue.get("depth"),
               "pending_amount": queue.get("pending_amount"),
               "oldest_pending_at": queue.get("oldest_pending_at")}
        out["enrolled"] = bool(live.get("device", {}).get("enrolled", enrolled))
    else:
        found = read_db_status(settings.agent.db_path)
        if found is None:
            src = {"pending_count": 0, "pending_amount": {}}
            out["source"] = "none"
        else:
            src = found
            out["qr_pending"] = found.get("qr_pending")
    out.update({k: src.get(k) for k in _FIELDS})
    found_cert = live.get("certificate") if live is not None else None
    out["certificate"] = found_cert if isinstance(found_cert, dict) else None
    oldest = out.get("oldest_pending_at")
    out["oldest_pending_age_s"] = None if oldest is None else max(0, now_ms - int(oldest)) / 1000
    return out


def when(ms: Any) -> str:
    """Unix ms as local time, or "never"."""
    if ms is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(int(ms) / 1000))


def amounts(by_currency: Any) -> str:
    """{"JPY": 1200, "USD": 250} → "¥1,200, $2.50" (minor units with their currency), or "0"."""
    return ", ".join(format_money(int(v), str(k)) for k, v in (by_currency or {}).items()) or "0"


def sync_lines(status: dict[str, Any]) -> list[str]:
    """Human lines of the sync fields shared by `status` and `sync`: times local, amounts with currency."""
    connected = {True: "yes", False: "NO", None: "unknown (nothing sent yet)"}[status.get("connected")]
    age = status.get("oldest_pending_age_s")
    offset = status.get("clock_offset_ms")
    error = status.get("last_error")
    error_at = status.get("last_error_at")
    oldest = "-" if age is None else f"{when(status.get('oldest_pending_at'))} ({age:.0f} s ago)"
    return [
        f"connected      : {connected}",
        f"pending        : {status.get('pending_count') or 0} sales, {amounts(status.get('pending_amount'))}",
        f"oldest pending : {oldest}",
        f"last ack       : {when(status.get('last_ack_at'))}",
        f"last contact   : {when(status.get('last_contact_at'))}",
        f"last error     : {error or '-'}" + (f" (at {when(error_at)})" if error and error_at else ""),
        f"quarantined    : {status.get('quarantined_count') or 0}",
        f"clock offset   : {'-' if offset is None else f'{int(offset):+d} ms'}",
    ]


def certificate_line(cert: dict[str, Any] | None) -> str:
    """One line on how the cloud's certificate last verified."""
    if not cert:
        return "unknown (the agent is not running)"
    state = cert.get("state")
    if state == "verified":
        until = f", valid until {when(int(cert['not_after']) * 1000)}" if cert.get("not_after") else ""
        pinned = ", pinned" if cert.get("pinned") else ""
        return f"verified: {cert.get('subject')} by {cert.get('issuer')}{until}{pinned}"
    if state == "failed":
        return f"FAILED ({cert.get('reason')}): {cert.get('detail')}"
    return {"plain_http": "plain HTTP (loopback cloud, no certificate)",
            "not_checked": "not checked yet (no connection so far)"}.get(str(state), str(state))


def render(status: dict[str, Any]) -> str:
    """Human lines of the status."""
    lines = [
        f"source         : {status['source']} (agent running: {'yes' if status['agent_running'] else 'no'})",
        f"enrolled       : {'yes' if status['enrolled'] else 'NO'}",
        *sync_lines(status),
        f"certificate    : {certificate_line(status.get('certificate'))}",
    ]
    if status.get("other_agent"):
        lines.insert(1, f"warning        : {status['other_agent']} (its figures are not shown)")
    return "\n".join(lines)


def run_status(args: argparse.Namespace, settings: Settings, enrolled: bool) -> int:
    """Print the status; 0, or 1 when the database exists but cannot be read."""
    try:
        status = collect_status(settings, enrolled)
    except sqlite3.Error as err:
        print(f"mpac-agent status: cannot read {settings.agent.db_path}: {err}")
        return 1
    print(json.dumps(status, ensure_ascii=False) if args.json else render(status))
    return 0
