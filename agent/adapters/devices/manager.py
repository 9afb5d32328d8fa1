"""Device manager: starts/stops the configured device services and reports their health."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any, Protocol

from agent.adapters.devices.link import DeviceHealth, DeviceLink


class _Service(Protocol):
    link: DeviceLink

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class DeviceManager:
    """Owns the device services' lifetimes; `health()` is what the status page shows."""

    def __init__(self, services: Sequence[_Service]) -> None:
        self.services = list(services)
        self._started: list[_Service] = []

    async def start(self) -> None:
        """Start every service; none opens its device inline, so a missing device never blocks start."""
        for service in self.services:
            await service.start()
            self._started.append(service)

    async def stop(self) -> None:
        """Stop every started service (in reverse order); errors of one do not stop the others."""
        started, self._started = self._started, []
        results = await asyncio.gather(*(s.stop() for s in reversed(started)), return_exceptions=True)
        del results  # best effort at shutdown: each stop() already closes what it can

    def health(self) -> dict[str, DeviceHealth]:
        """Health per device name."""
        return {s.link.name: s.link.health() for s in self.services}

    def health_json(self) -> dict[str, dict[str, Any]]:
        """Health per device as JSON-ready dicts."""
        return {name: asdict(h) for name, h in self.health().items()}
