"""Fixtures for agent processes: `agent_process` starts `mpac-agent run` and always stops it afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.agent.process import AgentProcess

StartAgent = Callable[..., AgentProcess]


@pytest.fixture
def agent_process(tmp_path: Path) -> Iterator[StartAgent]:
    """Factory `agent_process(overrides=None, folder=None)`; each process it started is stopped at the end."""
    started: list[AgentProcess] = []

    def start(
        overrides: dict[str, dict[str, Any]] | None = None, folder: Path | None = None, **kwargs: Any
    ) -> AgentProcess:
        proc = AgentProcess.start(folder or tmp_path / "agent", overrides, **kwargs)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()
