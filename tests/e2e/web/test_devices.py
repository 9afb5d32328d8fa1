"""Devices on the status page: printer health and paper, held print jobs, admin reprint/drop/test print.

The receipt printer is drivers' ESC/POS simulator on a real pty, driven by the agent's real printer service.
"""

from __future__ import annotations

import time
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.e2e.web.harness import ADMIN_PASSWORD, HOLD_AFTER_S, AgentThread
from tests.e2e.web.test_status import cash_sale


def receipts(agent: AgentThread) -> list[str]:
    """Receipts the simulator has cut so far (read on the agent's loop)."""
    assert agent.printer is not None
    printer = agent.printer

    async def read() -> list[str]:
        return printer.paper_roll.receipts()

    return agent.run(read())


class TestDevicesOnStatusPage:
    """The printer as the store manager sees it and fixes it."""

    def test_printer_health_and_paper_low(self, page: Page, printer_agent: AgentThread,
                                          tmp_path: Path) -> None:
        """Paper near its end: the printer row says online, near_end and tells what to do."""
        assert printer_agent.printer is not None
        printer_agent.printer.paper = "near_end"
        page.goto(printer_agent.url + "/status")
        devices = page.get_by_test_id("devices")
        expect(devices).to_contain_text("online", timeout=8000)
        expect(devices).to_contain_text("near_end")
        expect(devices).to_contain_text("paper is running low")
        page.screenshot(path=str(tmp_path / "status-devices.png"), full_page=True)

    def test_test_print_needs_the_password(self, page: Page, printer_agent: AgentThread) -> None:
        """A wrong password prints nothing; the right one queues a test page that the printer cuts."""
        page.goto(printer_agent.url + "/status")
        page.get_by_test_id("admin-password").fill("wrong")
        page.locator("[data-action='test_print']").click()
        expect(page.get_by_test_id("admin-result")).to_contain_text("The admin password is wrong.")
        assert receipts(printer_agent) == []
        page.get_by_test_id("admin-password").fill(ADMIN_PASSWORD)
        page.locator("[data-action='test_print']").click()
        expect(page.get_by_test_id("admin-result")).to_contain_text("Test page queued")
        deadline = time.monotonic() + 8
        while not receipts(printer_agent) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "TEST PRINT" in receipts(printer_agent)[0]

    def test_held_jobs_reprinted_or_dropped(self, page: Page, printer_agent: AgentThread,
                                            tmp_path: Path) -> None:
        """Receipts that waited out a printer outage are held; the manager reprints one, drops the other."""
        sim = printer_agent.printer
        assert sim is not None
        sim.power_off()
        cash_sale(printer_agent, 1100)
        cash_sale(printer_agent, 2200)
        time.sleep(HOLD_AFTER_S + 0.3)
        sim.power_on()
        page.goto(printer_agent.url + "/status")
        held = page.get_by_test_id("held-jobs")
        expect(held.locator("button[data-action='reprint']")).to_have_count(2, timeout=8000)
        expect(held).to_contain_text("Waited too long for the printer")
        page.screenshot(path=str(tmp_path / "status-held.png"), full_page=True)
        page.get_by_test_id("admin-password").fill(ADMIN_PASSWORD)
        held.locator("button[data-action='reprint']").first.click()
        expect(page.get_by_test_id("admin-result")).to_contain_text("Reprinting")
        held.locator("button[data-action='drop']").first.click()
        expect(page.get_by_test_id("admin-result")).to_contain_text("Dropped")
        expect(held).to_contain_text("None", timeout=8000)
        deadline = time.monotonic() + 8
        while not receipts(printer_agent) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(receipts(printer_agent)) == 1
