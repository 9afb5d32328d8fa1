"""The agent's telemetry: its resource, and the gauges of its state (docs/observability.md).

The gauges read a snapshot that one background task refreshes from the database every few seconds: the SDK
calls gauge callbacks on its own export thread, where the agent's aiosqlite reader must not be used.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from agent.adapters.secrets import resolve_credential
from agent.settings import Settings
from sync import telemetry
from sync.version import package_version

if TYPE_CHECKING:
    from agent.deps import Deps

log = logging.getLogger(__name__)
SAMPLE_EVERY_S = 5.0
_meter = metrics.get_meter("mpac.agent")


def start_agent_telemetry(settings: Settings, environ: Mapping[str, str],
                          credentials_dir: Path | None) -> telemetry.Telemetry | None:
    """Telemetry for `mpac-agent run` (None when no OTLP endpoint is set); never raises."""
    config = telemetry.TelemetryConfig.from_environ(environ)
    if not config.enabled:
        return None
    serial = settings.agent.serial
    attributes = {"mpac.device.serial": serial}
    try:
        found = resolve_credential(settings, credentials_dir)
        if not isinstance(found, str):
            attributes["mpac.device.id"] = found[0].device_id
    except Exception as err:  # an unreadable credential is the doctor's business, not telemetry's
        log.debug("telemetry: no device id (%s)", type(err).__name__)
    try:
        return telemetry.setup_telemetry(config, service_name="mpac-agent", service_version=package_version(),
                                         instance=telemetry.instance_id(serial), attributes=attributes)
    except Exception as err:  # a bad OTEL_* value must not keep the terminal from selling
        log.warning("telemetry disabled: %s: %s", type(err).__name__, err)
        return None


@dataclass(slots=True)
class Snapshot:
    """The last sampled state of the agent, in the units of the gauges."""

    pending_count: int = 0
    pending_amount: dict[str, int] = field(default_factory=dict)
    oldest_age_s: float = 0.0
    clock_offset_s: float | None = None
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)
    print_held: int = 0


class AgentGauges:
    """Observable gauges over a Snapshot; `refresh(deps)` samples the agent again."""

    def __init__(self) -> None:
        self.snapshot = Snapshot()
        gauges = [
            ("mpac.agent.sync.queue.depth", "{sale}", "sales not yet acknowledged by the cloud", self._depth),
            ("mpac.agent.sync.pending.amount", "1", "amount not yet acknowledged, minor units per currency",
             self._amount),
            ("mpac.agent.sync.oldest_pending.age", "s", "age of the oldest unacknowledged sale", self._age),
            ("mpac.agent.clock.offset", "s", "cloud clock minus device clock at the last sync", self._offset),
            ("mpac.agent.device.state", "1", "1 per device, its state as an attribute", self._devices),
            ("mpac.agent.print.jobs.held", "{job}", "print jobs held (paper out, faulty)", self._held),
        ]
        for name, unit, description, callback in gauges:
            _meter.create_observable_gauge(name, callbacks=[callback], unit=unit, description=description)

    async def refresh(self, deps: Deps) -> None:
        """Sample the queue, the clock offset, the devices and the held print jobs."""
        from agent.adapters.store.outbox import read_sync_status  # noqa: PLC0415 -- store imports stay lazy

        status = await read_sync_status(deps.database.reader)
        snap = Snapshot(pending_count=int(status["pending_count"]),
                        pending_amount=dict(status["pending_amount"]))
        oldest = status["oldest_pending_at"]
        snap.oldest_age_s = max(0.0, (deps.clock_ms() - oldest) / 1000) if oldest else 0.0
        offset = status["clock_offset_ms"]
        snap.clock_offset_s = None if offset is None else offset / 1000
        if deps.device_manager is not None:
            snap.devices = deps.device_manager.health_json()
        async with deps.database.reader.execute(
                "SELECT COUNT(*) FROM print_jobs WHERE state = 'held'") as cur:
            row = await cur.fetchone()
        snap.print_held = int(row[0]) if row else 0
        self.snapshot = snap

    def _depth(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(self.snapshot.pending_count)]

    def _amount(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(v, {"currency": c}) for c, v in self.snapshot.pending_amount.items()]

    def _age(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(self.snapshot.oldest_age_s)]

    def _offset(self, _options: CallbackOptions) -> Iterable[Observation]:
        offset = self.snapshot.clock_offset_s
        return [] if offset is None else [Observation(offset)]

    def _devices(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(1, {"device": name, "kind": str(h.get("kind")), "state": str(h.get("state"))})
                for name, h in self.snapshot.devices.items()]

    def _held(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(self.snapshot.print_held)]


@contextlib.asynccontextmanager
async def agent_gauges(deps: Deps, every_s: float = SAMPLE_EVERY_S) -> AsyncIterator[None]:
    """While the app runs and metrics are exported: refresh the gauges' snapshot every `every_s` seconds."""
    if not telemetry.metrics_enabled():
        yield
        return
    gauges = AgentGauges()

    async def loop() -> None:
        while True:
            started = time.monotonic()
            try:
                await gauges.refresh(deps)
            except Exception as err:  # a busy or broken store must not stop the agent; the gauges go stale
                log.debug("telemetry sample failed: %s", type(err).__name__)
            await asyncio.sleep(max(0.0, every_s - (time.monotonic() - started)))

    task = asyncio.create_task(loop(), name="agent-telemetry")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
