"""The REAL cloud (`python -m cloud.cli serve` as a subprocess, provisioned through `cloud.cli admin`) and an
in-process agent app wired to it, with the drivers' simulators on real ptys as its devices.

The agent never imports cloud/: the cloud runs as its own process, exactly as in the field.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from agent.bootstrap import build_app
from agent.deps import Deps
from agent.entrypoints.api.keys import DEPS
from drivers.simulators.rig import SimulatorRig, start_simulators
from sync.client import DeviceCredential
from sync.signing import authorization_header
from sync.testing.processes import CloudProcess, provision_real_device
from tests.integration.agent.conftest import make_settings
from tests.integration.drivers.helpers import wait_until


@dataclass
class RealCloud:
    """A running cloud process and the device credential provisioned on it."""

    process: CloudProcess
    cred: DeviceCredential

    @property
    def url(self) -> str:
        return self.process.url

    def cloud_table(self, **extra: Any) -> dict[str, Any]:
        """The agent's [cloud] section for this device."""
        return {
            "url": self.url,
            "device_id": self.cred.device_id,
            "api_key": self.cred.api_key,
            "secret_key": self.cred.secret_key,
            "timeout_s": 5.0,
            **extra,
        }

    async def intent(self, intent_id: str) -> dict[str, Any]:
        """The intent as the cloud itself reports it (signed GET, independent of the agent)."""
        path = f"/v1/payment_intents/{intent_id}"
        auth = authorization_header(
            self.cred.api_key, self.cred.secret_key, "GET", path, int(time.time()), b""
        )
        async with (
            aiohttp.ClientSession() as session,
            session.get(self.url + path, headers={"Authorization": auth}) as resp,
        ):
            assert resp.status == 200, await resp.text()
            body: dict[str, Any] = await resp.json()
            return body


@pytest.fixture
async def real_cloud(tmp_path: Path) -> AsyncIterator[RealCloud]:
    """`mpac-pgw serve` on a free loopback port with one enrolled device (simulator QR provider)."""
    work = tmp_path / "cloud"
    work.mkdir()
    process = CloudProcess("real", work)
    await process.start()
    try:
        cred = await provision_real_device(process, "CPM-TEST-1")
        yield RealCloud(process, cred)
    finally:
        await process.stop()


@pytest.fixture
async def sims(tmp_path: Path) -> AsyncIterator[SimulatorRig]:
    """Printer, scanner and card reader simulators on real ptys."""
    folder = tmp_path / "dev"
    folder.mkdir()
    rig = await start_simulators(folder)
    try:
        yield rig
    finally:
        await rig.stop()


StartAgent = Callable[..., Awaitable[tuple[TestClient[Any, Any], Deps]]]


@pytest.fixture
def start_agent(aiohttp_client: Any, tmp_path: Path) -> StartAgent:
    """`await start_agent(overrides, devices_table)` → (client, context), devices online when given."""

    async def start(
        overrides: dict[str, dict[str, Any]], devices: dict[str, Any] | None = None
    ) -> tuple[TestClient[Any, Any], Deps]:
        table = dict(overrides)
        if devices is not None:
            table["devices"] = {"reopen_max_s": 0.5, **devices}
        app = await build_app(make_settings(tmp_path / "state", table), sync=False)
        client: TestClient[Any, Any] = await aiohttp_client(app)
        ctx = app[DEPS]
        if devices:
            manager = ctx.device_manager
            assert manager is not None  # devices were configured
            await wait_until(lambda: all(h.state == "online" for h in manager.health().values()), 10)
        return client, ctx

    return start
