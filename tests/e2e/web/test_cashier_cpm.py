"""QR CPM and "Stop waiting" on the cashier screen, in Chromium, against the REAL cloud process, with the
scanner and printer simulators on real ptys driven by the agent's device services."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from drivers.simulators.printer import PrinterSimulator
from drivers.simulators.scanner import ScannerSimulator
from tests.e2e.web.harness import AgentThread
from tests.e2e.web.real_cloud import RealCloudProcess
from tests.e2e.web.test_cashier import key_in, new_sale


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[RealCloudProcess]:
    """`mpac-pgw serve` as a subprocess on a free loopback port."""
    proc = RealCloudProcess(tmp_path / "cloud").start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def cpm_agent(tmp_path: Path, cloud: RealCloudProcess) -> Iterator[AgentThread]:
    """An agent enrolled with the real cloud, with a scanner and a receipt printer (simulators on ptys)."""
    cred = cloud.provision("WEB-CPM-1")
    agent = AgentThread(
        tmp_path / "state",
        {"cloud": {"timeout_s": 5.0}},
        enrolled=True,
        printer=PrinterSimulator(),
        scanner=ScannerSimulator(),
        real_cloud=(cloud.url, cred),
    )
    agent.start()
    try:
        yield agent
    finally:
        agent.stop()


def _intent(cloud: RealCloudProcess, agent: AgentThread) -> dict[str, Any]:
    """The one QR sale the agent recorded, as the cloud reports it."""
    assert agent.real_cloud is not None
    status, listing = agent.call("GET", "/api/status")
    assert status == 200, listing
    state = agent.settings.agent.state_dir / "agent.sqlite3"
    import sqlite3  # noqa: PLC0415 -- only this helper reads the file

    with sqlite3.connect(state) as conn:
        (intent_id,) = conn.execute("SELECT cloud_intent_id FROM qr_sales").fetchone()
    return cloud.intent(agent.real_cloud[1], intent_id)


def _scan(agent: AgentThread, code: str) -> None:
    """The customer's phone under the scanner (on the agent's loop, which owns the pty)."""
    assert agent.scanner is not None
    agent.loop.call_soon_threadsafe(agent.scanner.emit, code)


def _ready(page: Page, agent: AgentThread) -> None:
    new_sale(page, agent)
    # An attribute assertion, not wait_for_function: the page's CSP forbids evaluating strings in it.
    expect(page.locator("body")).to_have_attribute("data-scanner", "online", timeout=15000)
    expect(page.locator("#btn-cpm")).to_be_enabled(timeout=15000)


class TestCustomerCode:
    def test_scan_pays_and_prints(
        self, page: Page, cpm_agent: AgentThread, cloud: RealCloudProcess, tmp_path: Path
    ) -> None:
        """コード支払い waits for the scan; the scanned code pays on the cloud; the receipt prints."""
        _ready(page, cpm_agent)
        key_in(page, "1500")
        page.locator("#btn-cpm").click()
        expect(page.get_by_test_id("cpm-state")).to_contain_text("Waiting for the customer's code")
        page.screenshot(path=str(tmp_path / "cashier-cpm-waiting.png"))
        _scan(cpm_agent, "PAYCODE-1500")
        expect(page.get_by_test_id("result")).to_contain_text("Paid by QR", timeout=10000)
        intent = _intent(cloud, cpm_agent)
        assert (intent["status"], intent["amount"], intent["payment_method_type"]) == (
            "succeeded",
            1500,
            "qr_cpm",
        )
        assert cpm_agent.printer is not None
        deadline = time.monotonic() + 10
        while not cpm_agent.printer.paper_roll.receipts() and time.monotonic() < deadline:
            time.sleep(0.05)
        (receipt,) = cpm_agent.printer.paper_roll.receipts()
        assert "1,500" in receipt

    def test_declined_code_shown(self, page: Page, cpm_agent: AgentThread, cloud: RealCloudProcess) -> None:
        """A code the provider declines shows 'QR payment failed' and why; nothing prints."""
        _ready(page, cpm_agent)
        key_in(page, "700")
        page.locator("#btn-cpm").click()
        expect(page.get_by_test_id("cpm-state")).to_contain_text("Waiting")
        _scan(cpm_agent, "SIMFAIL-7")
        result = page.get_by_test_id("result")
        expect(result).to_contain_text("QR payment failed", timeout=10000)
        expect(result).to_contain_text("declined")
        assert _intent(cloud, cpm_agent)["status"] == "failed"
        assert cpm_agent.printer is not None and cpm_agent.printer.paper_roll.receipts() == []

    def test_stop_waiting_cancels_on_the_cloud(
        self, page: Page, cpm_agent: AgentThread, cloud: RealCloudProcess
    ) -> None:
        """'Stop waiting' cancels the intent on the cloud and the screen says cancelled."""
        _ready(page, cpm_agent)
        key_in(page, "900")
        page.locator("#btn-cpm").click()
        expect(page.get_by_test_id("cpm-state")).to_contain_text("Waiting")
        page.locator("#cpm-back").click()
        expect(page.get_by_test_id("result")).to_contain_text("Cancelled", timeout=10000)
        expect(page.get_by_test_id("result")).to_contain_text("Stopped by the cashier")
        assert _intent(cloud, cpm_agent)["status"] == "cancelled"


class TestMpmStopWaiting:
    def test_stop_waiting_cancels_the_mpm_intent(
        self, page: Page, cpm_agent: AgentThread, cloud: RealCloudProcess
    ) -> None:
        """On the QR MPM screen 'Stop waiting' calls the cancel API: the cloud intent ends cancelled."""
        _ready(page, cpm_agent)
        key_in(page, "2000")
        page.locator("#btn-qr").click()
        expect(page.get_by_test_id("qr")).to_be_visible(timeout=10000)
        page.locator("#qr-back").click()
        expect(page.get_by_test_id("result")).to_contain_text("Cancelled", timeout=10000)
        assert _intent(cloud, cpm_agent)["status"] == "cancelled"
