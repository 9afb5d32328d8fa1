"""Issue 11, in headless Chromium against the REAL cloud process (`--simulator-routes`): a QR MPM sale reaches
"paid" on the cashier screen once the simulator marks the code paid, with no manual `…/sync`; and "Stop
waiting" pressed after the customer paid shows the sale paid, never cancelled
(docs/local-web.md#other-json-routes).

Screenshots are saved under test-artifacts/screenshots/ at the repository root (gitignored).
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from drivers.simulators.printer import PrinterSimulator
from tests.e2e.web.harness import AgentThread
from tests.e2e.web.real_cloud import RealCloudProcess
from tests.e2e.web.test_cashier import key_in, new_sale
from tests.e2e.web.test_terminal_story import shot, wait_for


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[RealCloudProcess]:
    """`mpac-pgw serve --simulator-routes` as a subprocess on a free loopback port."""
    proc = RealCloudProcess(tmp_path / "cloud", simulator_routes=True).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def mpm_agent(tmp_path: Path, cloud: RealCloudProcess) -> Iterator[AgentThread]:
    """An agent enrolled with the real cloud, with the receipt printer simulator on a pty."""
    agent = AgentThread(tmp_path / "state", {"cloud": {"timeout_s": 5.0}}, enrolled=True,
                        printer=PrinterSimulator(), real_cloud=(cloud.url, cloud.provision("WEB-MPM-1")))
    agent.start()
    try:
        yield agent
    finally:
        agent.stop()


def _show_qr(page: Page, agent: AgentThread, amount: str) -> dict[str, Any]:
    """Key in the amount, press QR, wait for the code; the agent's QR sale."""
    new_sale(page, agent)
    expect(page.locator("#btn-qr")).to_be_enabled(timeout=15000)
    key_in(page, amount)
    page.locator("#btn-qr").click()
    expect(page.get_by_test_id("qr")).to_be_visible(timeout=10000)
    status, listing = agent.call("GET", "/api/sales?payment_method=qr_mpm")
    assert status == 200, listing
    (sale,) = listing["data"]
    assert sale["status"] == "requires_action"
    return dict(sale)


def _customer_pays(cloud: RealCloudProcess, intent_id: str) -> None:
    """The customer's phone pays the code (the simulator provider's control route)."""
    req = urllib.request.Request(f"{cloud.url}/_simulator/payment_intents/{intent_id}/pay",  # noqa: S310
                                 data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 -- loopback URL we built
        assert json.loads(resp.read())["marked"] == "pay"


class TestMpmPaid:
    def test_paid_code_shows_paid_without_sync(
        self, page: Page, mpm_agent: AgentThread, cloud: RealCloudProcess
    ) -> None:
        """The screen waits on the QR code; once the customer pays, it says "Paid by QR" by polling alone, the
        cloud intent is succeeded and the receipt prints."""
        sale = _show_qr(page, mpm_agent, "2980")
        expect(page.locator("#qr-state")).to_contain_text("Waiting for payment")
        shot(page, "cashier-mpm-waiting.png")
        _customer_pays(cloud, sale["cloud_intent_id"])
        result = page.get_by_test_id("result")
        expect(result).to_contain_text("Paid by QR", timeout=15000)
        expect(result).not_to_contain_text("not cancelled")
        shot(page, "cashier-mpm-paid.png")
        assert mpm_agent.real_cloud is not None
        assert cloud.intent(mpm_agent.real_cloud[1], sale["cloud_intent_id"])["status"] == "succeeded"
        printer = mpm_agent.printer
        assert printer is not None
        wait_for(lambda: len(printer.paper_roll.receipts()) == 1, "the receipt")
        assert "2,980" in printer.paper_roll.receipts()[0]

    def test_stop_waiting_after_payment_shows_paid(
        self, page: Page, mpm_agent: AgentThread, cloud: RealCloudProcess
    ) -> None:
        """"Stop waiting" pressed after the customer paid, before the screen's poll learned it: the screen
        says paid and not cancelled, and the sale is succeeded on the agent and on the cloud.

        Until the cancel is sent, the screen's polls are answered with the sale as it was created ("still
        waiting"), so the click always comes first; the create, the cancel and everything after them reach the
        real agent."""
        created: dict[str, Any] = {}

        def sale_route(route: Route) -> None:
            request = route.request
            if request.method == "POST" and request.url.endswith("/api/sales"):
                answer = route.fetch()
                created.update(answer.json())
                route.fulfill(response=answer)
            elif request.method == "GET" and created:
                route.fulfill(status=200, content_type="application/json", body=json.dumps(created))
            else:
                created.clear()  # the cancel: from here on the agent answers
                route.continue_()

        page.route(re.compile(r".*/api/sales(/[^/?]+(/cancel)?)?$"), sale_route)
        sale = _show_qr(page, mpm_agent, "1500")
        _customer_pays(cloud, sale["cloud_intent_id"])
        page.locator("#qr-back").click()
        result = page.get_by_test_id("result")
        expect(result).to_contain_text("Paid by QR", timeout=15000)
        expect(result).to_contain_text("Already paid: not cancelled")
        expect(result).not_to_contain_text("Cancelled")
        shot(page, "cashier-mpm-stop-after-paid.png")
        assert mpm_agent.real_cloud is not None
        assert cloud.intent(mpm_agent.real_cloud[1], sale["cloud_intent_id"])["status"] == "succeeded"
        status, local = mpm_agent.call("GET", f"/api/sales/{sale['local_id']}")
        assert (status, local["status"]) == (200, "succeeded")
