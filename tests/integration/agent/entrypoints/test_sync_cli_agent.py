"""`mpac-agent sync --now` asks a running agent over its local API, as JSON (the API takes no other POST)."""

from __future__ import annotations

from pathlib import Path

from aiohttp.test_utils import TestServer

from agent.bootstrap import build_app
from agent.deps import Devices
from agent.entrypoints.sync_cli import _sync_now_local
from tests.e2e.agent.process import closed_port
from tests.integration.agent.conftest import make_settings


class TestSyncNowViaTheAgent:
    """The CLI's request reaches the handler of POST /api/sync."""

    async def test_answered_by_the_running_agent(self, tmp_path: Path) -> None:
        """Not enrolled: the running agent's own sync_unavailable answer comes back, not a 415."""
        port = closed_port()
        settings = make_settings(tmp_path, {"web": {"port": port}})
        server = TestServer(await build_app(settings, devices=Devices(), sync=False), host="127.0.0.1",
                            port=port)
        await server.start_server()
        try:
            report = await _sync_now_local(settings, None)
        finally:
            await server.close()
        assert report["via"] == "agent"
        assert report["error"]["code"] == "sync_unavailable"
