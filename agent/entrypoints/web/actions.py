"""Admin actions of the status page (test print, sync now, reprint/drop a held job, support bundle).

Each needs the per-device admin password (docs/local-web.md), checked by AdminGate before anything happens;
so does `logs`, the recent-log view (agent/entrypoints/web/logs.py). Messages are Japanese and English.
Like every state-changing route they are JSON-only and same-origin-only (docs/local-web.md).
"""

from __future__ import annotations

import platform
import time
from collections.abc import Awaitable, Callable
from importlib import metadata
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.adapters.devices.printer import PrinterService
from agent.adapters.store.views import support_view
from agent.deps import Deps
from agent.domain.errors import AgentError, UpstreamUnavailable
from agent.entrypoints.api.body import json_object
from agent.entrypoints.web.context import WEB_STATE, agent_ctx, device_view, printer_service
from agent.entrypoints.web.logs import RingBufferHandler

JOB_ID = r"^pj_[0-9A-HJKMNP-TV-Z]{26}$"
LOG_LINES = 200
BUNDLE_SALES = 50


class AdminRequest(BaseModel):
    """Body of POST /api/web/admin/{action}."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    password: str = Field(default="", max_length=256, repr=False)
    job_id: str | None = Field(default=None, pattern=JOB_ID)


Action = Callable[[Deps, AdminRequest], Awaitable[dict[str, Any]]]


def _printer(ctx: Deps) -> PrinterService:
    printer = printer_service(ctx)
    if printer is None:
        raise AgentError("no_printer", "この端末にはレシートプリンターがありません "
                         "No receipt printer is configured on this terminal.", status=409)
    return printer


def _job_id(body: AdminRequest) -> str:
    if body.job_id is None:
        raise AgentError("parameter_missing", "印刷ジョブを指定してください job_id is required.",
                         param="job_id", status=422)
    return body.job_id


async def test_print(ctx: Deps, _body: AdminRequest) -> dict[str, Any]:
    """Queue a test page on the printer."""
    job_id = await _printer(ctx).test_print()
    return {"ok": True, "job_id": job_id, "message": f"テスト印刷を送信しました Test page queued ({job_id})."}


async def reprint(ctx: Deps, body: AdminRequest) -> dict[str, Any]:
    """Send a held/failed job to the printer again (or a copy of a printed one)."""
    job_id = _job_id(body)
    new_id = await _printer(ctx).reprint(job_id)
    if new_id is None:
        raise AgentError("job_not_reprintable", "その印刷ジョブは不明か印刷中です "
                         "That print job is unknown or still printing.", status=409)
    return {"ok": True, "job_id": new_id, "message": f"再印刷します Reprinting ({new_id})."}


async def drop(ctx: Deps, body: AdminRequest) -> dict[str, Any]:
    """Cancel a job that has not printed."""
    job_id = _job_id(body)
    if not await _printer(ctx).drop(job_id):
        raise AgentError("job_not_droppable", "その印刷ジョブは不明・印刷中・完了済みです "
                         "That print job is unknown, printing or already done.", status=409)
    return {"ok": True, "job_id": job_id, "message": f"破棄しました Dropped ({job_id})."}


async def sync_now(ctx: Deps, _body: AdminRequest) -> dict[str, Any]:
    """Run one sync pass now and say what it did."""
    sync = ctx.sync
    if sync is None:
        raise UpstreamUnavailable("sync_unavailable", "この端末では同期が動いていません "
                                  "Sync is not running on this terminal.")
    result = await sync.sync_now()
    n = {key: result.get(key, 0) for key in ("sent", "acked", "rejected", "pending")}
    counts = (f"送信 {n['sent']} · 確認 {n['acked']} · 拒否 {n['rejected']} · 未送信 {n['pending']} — "
              f"sent {n['sent']}, acknowledged {n['acked']}, rejected {n['rejected']}, "
              f"still pending {n['pending']}")
    if not result.get("ok"):
        return {**result, "message": f"同期できませんでした Sync failed: {result.get('error')} ({counts})."}
    return {**result, "message": f"同期しました Synced: {counts}."}


async def support_bundle(ctx: Deps, _body: AdminRequest) -> dict[str, Any]:
    """Everything support needs to diagnose this terminal, without any secret or card number."""
    settings = ctx.settings
    config = settings.model_dump(mode="json")
    config.get("cloud", {}).pop("secret_key", None)
    stored = await support_view(ctx.store.database)
    return {"generated_at": int(time.time() * 1000), "version": _version(),
            "python": platform.python_version(), "platform": platform.platform(), "config": config,
            **stored, **await device_view(ctx)}


def _version() -> str:
    try:
        return metadata.version("mpac-edge")
    except metadata.PackageNotFoundError:
        return "unknown"


async def _logs(buffer: RingBufferHandler) -> dict[str, Any]:
    lines = buffer.lines(LOG_LINES)
    return {"ok": True, "lines": lines,
            "message": f"最近のログ {len(lines)} 行 Last {len(lines)} log lines "
                       "(secrets and card numbers removed)."}


ACTIONS: dict[str, Action] = {"test_print": test_print, "reprint": reprint, "drop": drop,
                              "sync_now": sync_now, "support_bundle": support_bundle}


async def _parse(request: web.Request) -> AdminRequest:
    data = await json_object(request)  # JSON and same-origin already checked by the app's middleware
    try:
        return AdminRequest.model_validate(data)
    except ValidationError as err:
        loc = err.errors()[0]["loc"] if err.errors() else ()
        param = ".".join(str(p) for p in loc) or None
        raise AgentError("invalid_request", "管理リクエストの形式が正しくありません "
                         "The admin request is malformed.", param=param, status=422) from None


async def admin_action(request: web.Request) -> web.Response:
    """POST /api/web/admin/{action} {password, job_id?} — one admin action, after the password check."""
    name = request.match_info["action"]
    action = ACTIONS.get(name)
    if action is None and name != "logs":
        raise AgentError("unknown_action", "そのような管理操作はありません No such admin action.", status=404)
    body = await _parse(request)
    state = request.app[WEB_STATE]
    await state.gate.check(body.password)
    result = await (action(agent_ctx(request), body) if action is not None else _logs(state.log_buffer))
    return web.json_response(result, headers={"Cache-Control": "no-store"})
