"""The agent's sync service: composes the encrypted credential, the SqliteOutbox, the SyncClient and the
sync.uploader.Uploader monitor, for bootstrap, the local web (`POST /api/sync`, /api/status) and the CLI.

Bootstrap: `service = await SyncService.open(settings, credentials_dir=...)`, `service.start()` (monitor
task), `service.kick()` after each sale is committed, `await service.close()` at shutdown.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from agent.adapters.secrets import SecretStore, SecretStoreError
from agent.adapters.store import db
from agent.adapters.store.outbox import SqliteOutbox, read_sync_status
from agent.domain.errors import UpstreamUnavailable
from agent.entrypoints.enroll import credentials_dir_from
from agent.settings import Settings
from sync.client import DeviceCredential, SyncClient
from sync.errors import SyncError
from sync.results import SyncResult
from sync.uploader import Uploader, UploaderConfig

log = logging.getLogger(__name__)
SYNC_NOW_MAX_BATCHES = 200  # ≤ 100,000 items per "sync now", so the call is bounded
CLI_TIMEOUT_S = 120.0


def resolve_credential(settings: Settings,
                       credentials_dir: Path | None) -> tuple[DeviceCredential, str] | str:
    """The credential and cloud URL to sync with, or why there is none (not enrolled, damaged store)."""
    try:
        enrolled = SecretStore(settings.agent.state_dir, credentials_dir).load()
    except SecretStoreError as err:
        return str(err)
    if enrolled is not None:
        return enrolled.credential(), enrolled.cloud_url or settings.cloud.url
    cloud = settings.cloud
    secret = cloud.secret_key.get_secret_value()
    if cloud.device_id and cloud.api_key and secret:
        return DeviceCredential(cloud.device_id, cloud.api_key, secret), cloud.url
    return "not enrolled: run mpac-agent enroll --cloud URL --code CODE"


class SyncService:
    """Holds the uploader (None when the device is not enrolled) and its monitor task."""

    def __init__(self, outbox: SqliteOutbox | None, client: SyncClient | None, uploader: Uploader | None,
                 disabled_reason: str | None = None) -> None:
        self.outbox, self.client, self.uploader = outbox, client, uploader
        self.disabled_reason = disabled_reason
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, settings: Settings, *, credentials_dir: Path | None = None,
                   config: UploaderConfig | None = None) -> SyncService:
        """Build the service; the database must already be migrated (the agent Store does that)."""
        found = resolve_credential(settings, credentials_dir)
        if isinstance(found, str):
            log.warning("sync disabled: %s", found)
            return cls(None, None, None, found)
        credential, url = found
        outbox = await SqliteOutbox.open(settings.agent.db_path, credential.device_id)
        client = SyncClient(url, credential, timeout=settings.cloud.timeout_s)
        return cls(outbox, client, Uploader(outbox, client, credential.device_id, config))

    def start(self) -> None:
        """Start the monitor loop (no-op when not enrolled)."""
        if self.uploader is not None and self._task is None:
            probe = self.client.probe if self.client is not None else None
            self._task = asyncio.create_task(self.uploader.run(probe), name="sync-monitor")

    def kick(self) -> None:
        """A sale was queued or the network came back: pass now instead of at the next tick."""
        if self.uploader is not None:
            self.uploader.kick()

    async def sync_now(self, max_batches: int = SYNC_NOW_MAX_BATCHES) -> dict[str, Any]:
        """Drain now and report sent/acked/rejected/duplicates/pending (and the error if a batch failed)."""
        if self.uploader is None:
            return {"ok": False, "error": self.disabled_reason, **asdict(SyncResult())}
        try:
            result = await self.uploader.drain(max_batches)
        except SyncError as err:  # report what got through before the failure, and what is left
            pending = await self.outbox.pending_count() if self.outbox else 0
            done = self.uploader.state.last_pass
            return {"ok": False, "error": str(err), **asdict(done + SyncResult(pending=pending))}
        return {"ok": True, "error": None, **asdict(result)}

    async def status(self) -> dict[str, Any]:
        """The sync block of /api/status."""
        if self.outbox is None or self.uploader is None:
            return {"enabled": False, "reason": self.disabled_reason}
        state = self.uploader.state
        return {"enabled": True, "device_id": self.uploader.device_id, "running": state.running,
                "retry_in_s": state.retry_in, **await self.outbox.status()}

    async def close(self) -> None:
        """Stop the monitor, then close the client and the outbox."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.client is not None:
            await self.client.close()
        if self.outbox is not None:
            await self.outbox.close()


def sync_routes(service_of: Callable[[web.Request], SyncService | None]) -> list[web.RouteDef]:
    """`POST /api/sync` ("sync now"): drain at once and answer sent/acked/rejected/duplicates/pending."""

    async def sync_now(request: web.Request) -> web.Response:
        service = service_of(request)
        if service is None or service.uploader is None:
            reason = service.disabled_reason if service is not None else "sync is not running"
            raise UpstreamUnavailable("sync_unavailable", f"Sync is not running on this terminal: {reason}.")
        return web.json_response({"object": "sync_result", **await service.sync_now()})

    return [web.post("/api/sync", sync_now)]


async def _sync_now_local(settings: Settings, credentials_dir: Path | None) -> dict[str, Any]:
    """Ask the running agent (POST /api/sync); if none answers, run the pass in this process."""
    url = f"http://{settings.web.host}:{settings.web.port}/api/sync"
    try:
        async with aiohttp.ClientSession() as session, session.post(
                url, timeout=aiohttp.ClientTimeout(total=CLI_TIMEOUT_S)) as resp:
            body: dict[str, Any] = await resp.json()
            return {"via": "agent", **body}
    except (aiohttp.ClientConnectionError, TimeoutError):
        pass
    await _migrate(settings)
    service = await SyncService.open(settings, credentials_dir=credentials_dir)
    try:
        return {"via": "cli", **await service.sync_now()}
    finally:
        await service.close()


async def _status_local(settings: Settings, credentials_dir: Path | None) -> dict[str, Any]:
    found = resolve_credential(settings, credentials_dir)
    head = {"enrolled": not isinstance(found, str), "device_id": None if isinstance(found, str)
            else found[0].device_id, "reason": found if isinstance(found, str) else None}
    if not settings.agent.db_path.exists():
        return {**head, "pending_count": 0}
    conn = await db.connect(settings.agent.db_path, readonly=True)
    try:
        return {**head, **await read_sync_status(conn)}
    finally:
        await conn.close()


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
        for key, value in report.items():
            print(f"{key}: {json.dumps(value, ensure_ascii=False)}")
    return 0 if report.get("ok", True) else 1


async def _migrate(settings: Settings) -> None:
    settings.agent.state_dir.mkdir(parents=True, exist_ok=True)
    conn = await db.connect(settings.agent.db_path)
    try:
        await db.migrate(conn)
    finally:
        await conn.close()
