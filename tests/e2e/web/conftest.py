"""Fixtures of the browser tests: Debian's Chromium for Playwright, and a real agent per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from drivers.simulators.cardreader import CardReaderSimulator, CardRules
from drivers.simulators.printer import PrinterSimulator
from tests.e2e.web.fake_cloud import FakeCloud
from tests.e2e.web.harness import AgentThread

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Never `playwright install`: launch the distribution's Chromium (ci-recipes.md)."""
    return {**browser_type_launch_args, "executable_path": CHROMIUM,
            "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--no-first-run", "--disable-sync"]}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    """A SmartPOS-like landscape screen, Japanese locale."""
    return {**browser_context_args, "viewport": {"width": 1024, "height": 768}, "locale": "ja-JP"}


@pytest.fixture(autouse=True)
def no_script_errors(page: Page) -> Iterator[None]:
    """Every browser test also fails on an uncaught script error (a CSP block or a bug in the page JS)."""
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    yield
    assert errors == []


def _run(server: AgentThread) -> Iterator[AgentThread]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[AgentThread]:
    """A real agent on 127.0.0.1:<random port>, its state in tmp_path, not enrolled."""
    yield from _run(AgentThread(tmp_path / "state"))


@pytest.fixture
def offline_agent(tmp_path: Path) -> Iterator[AgentThread]:
    """An enrolled agent (admin password set) whose cloud is a closed loopback port."""
    yield from _run(AgentThread(tmp_path / "state", enrolled=True))


@pytest.fixture
def online_agent(tmp_path: Path) -> Iterator[AgentThread]:
    """An enrolled agent talking to the fake cloud on loopback."""
    yield from _run(AgentThread(tmp_path / "state", enrolled=True, cloud=FakeCloud()))


@pytest.fixture
def printer_agent(tmp_path: Path) -> Iterator[AgentThread]:
    """An enrolled, offline agent with the ESC/POS printer simulator on a pty as its receipt printer."""
    yield from _run(AgentThread(tmp_path / "state", enrolled=True, printer=PrinterSimulator()))


@pytest.fixture
def reader_agent(tmp_path: Path) -> Iterator[AgentThread]:
    """An agent (not enrolled) with drivers' card reader simulator on a pty as its card reader."""
    sim = CardReaderSimulator(CardRules(present_delay=0.05, brand="VISA", last4="4242"))
    yield from _run(AgentThread(tmp_path / "state", card_reader=sim))


@pytest.fixture
def tiny_db_agent(tmp_path: Path) -> Iterator[AgentThread]:
    """A not-enrolled agent whose database may grow to 1 MiB only (max_db_mb = 1)."""
    yield from _run(AgentThread(tmp_path / "state", {"agent": {"max_db_mb": 1}}))


@pytest.fixture
def expiring_agent(tmp_path: Path) -> Iterator[AgentThread]:
    """A not-enrolled agent whose unsynced sales expire after about a second (swept every 0.2 s)."""
    yield from _run(AgentThread(tmp_path / "state", {"agent": {"expiry_interval_s": 0.2},
                                                     "offline": {"max_age_hours": 0.0003}}))
