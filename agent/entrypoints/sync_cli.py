"""`mpac-agent sync [--now] [--json]`: the sync picture, or a pass now (through the running agent if it
answers, else in this process on the same database)."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp

from agent.adapters.secrets import resolve_credential
from agent.adapters.store.database import AgentDatabase
from agent.adapters.store.views import offline_status
from agent.domain.money import format_money
from agent.entrypoints.enroll import credentials_dir_from
from agent.entrypoints.status import sync_lines
from agent.services.sync import SyncService
from agent.settings import Settings, cloud_trust

CLI_TIMEOUT_S = 120.0


async def _sync_now_local(settings: Settings, credentials_dir: Path | None) -> dict[str, Any]:
    """Ask the running agent (POST /api/sync); if none answers, run the pass in this process."""
    url = f"http://{settings.web.host}:{settings.web.port}/api/sync"
    try:
        async with aiohttp.ClientSession() as session, session.post(
                url, json={},  # JSON: the agent takes no other body on a POST
                timeout=aiohttp.ClientTimeout(total=CLI_TIMEOUT_S)) as resp:
            body: dict[str, Any] = await resp.json()
            return {"via": "agent", **body}
    except (aiohttp.ClientConnectionError, TimeoutError):
        pass
    database = await AgentDatabase.open(settings.agent.db_path)
    found = resolve_credential(settings, credentials_dir)
    service = SyncService.build(database, found, settings.cloud.timeout_s, trust=cloud_trust(settings))
    try:
        return {"via": "cli", **await service.sync_now()}
    finally:
        await service.close()
        await database.close()


async def _status_local(settings: Settings, credentials_dir: Path | None) -> dict[str, Any]:
    found = resolve_credential(settings, credentials_dir)
    head = {"enrolled": not isinstance(found, str), "device_id": None if isinstance(found, str)
            else found[0].device_id, "reason": found if isinstance(found, str) else None}
    stored = await offline_status(settings.agent.db_path)
    if stored is None:
        return {**head, "pending_count": 0}
    stored.pop("qr_pending", None)
    oldest = stored.get("oldest_pending_at")
    age = None if oldest is None else max(0, int(time.time() * 1000) - int(oldest)) / 1000
    return {**head, **stored, "oldest_pending_age_s": age}


def render_status(report: dict[str, Any]) -> str:
    """The sync picture in the words and units of `mpac-agent status`, plus the quarantined items."""
    enrolled = (f"yes (device {report['device_id']})" if report.get("enrolled")
                else f"NO ({report.get('reason')})")
    lines = [f"enrolled       : {enrolled}", *sync_lines(report)]
    for item in report.get("quarantined") or []:
        error = item.get("error")
        message = error.get("message") or error.get("code") if isinstance(error, dict) else error
        money = format_money(int(item.get("amount") or 0), str(item.get("currency")))
        lines.append(f"  seq {item.get('seq')} {money} {item.get('local_id')}: {message or '-'}")
    return "\n".join(lines)


def add_sync_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Register `mpac-agent sync [--now] [--json]` (the caller adds --config and the handler)."""
    p = sub.add_parser("sync", help="show the sync status, or start a sync pass now (--now)",
                       description="Without --now: pending count and amount, oldest pending, last ack, last "
                                   "error, quarantined items, clock offset. With --now: drain at once and "
                                   "report sent/acked/rejected/still pending.")
    p.add_argument("--now", action="store_true", help="start a pass now and report what it did")
    p.add_argument("--json", action="store_true", help="print JSON")
    return p


def run_sync_cli(args: argparse.Namespace, settings: Settings, env: dict[str, str]) -> int:
    """Handler of `mpac-agent sync`; exit 1 when a pass failed."""
    creds = credentials_dir_from(env)
    report = asyncio.run(_sync_now_local(settings, creds) if args.now else _status_local(settings, creds))
    if args.json:
        print(json.dumps(report, indent=1, ensure_ascii=False))
    elif args.now:
        print(f"sent {report.get('sent', 0)}, acked {report.get('acked', 0)} "
              f"(duplicates {report.get('duplicates', 0)}), rejected {report.get('rejected', 0)}, "
              f"still pending {report.get('pending', 0)}" + (f"; error: {report['error']}"
                                                               if report.get("error") else ""))
    else:
        print(render_status(report))
    return 0 if report.get("ok", True) else 1
