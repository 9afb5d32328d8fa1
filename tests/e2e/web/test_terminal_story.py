"""Issue 11 in headless Chromium against real agents: paper-out on the cashier screen, the offline banner's
unsynced count, the badge probed at start, the online per-sale rule, and the status page telling who the
terminal is and what it did (identity, today's totals with QR, the receipt preview, the 24 h chart).

Screenshots of both pages are saved under test-artifacts/screenshots/ at the repository root (gitignored).
"""

from __future__ import annotations

import io
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from drivers.simulators.printer import PrinterSimulator
from tests.e2e.web.fake_cloud import FakeCloud
from tests.e2e.web.harness import ADMIN_PASSWORD, AgentThread
from tests.e2e.web.test_cashier import key_in, new_sale
from tests.e2e.web.test_devices import receipts
from tests.e2e.web.test_status import cash_sale

SHOTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "screenshots"


def shot(page: Page, name: str) -> None:
    """Save a full-page screenshot under SHOTS."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=True)


def wait_for(check: object, what: str, timeout: float = 10.0) -> None:
    """Poll `check()` until true, within a generous bound."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def paper_agent(tmp_path: Path) -> Iterator[AgentThread]:
    """An enrolled, offline agent with the printer simulator; receipts wait 120 s before they are held."""
    agent = AgentThread(tmp_path / "state", enrolled=True, printer=PrinterSimulator(), hold_after_s=120)
    agent.start()
    try:
        yield agent
    finally:
        agent.stop()


@pytest.fixture
def shop_agent(tmp_path: Path) -> Iterator[AgentThread]:
    """An enrolled agent online with the fake cloud, with the printer simulator as its receipt printer."""
    agent = AgentThread(tmp_path / "state", enrolled=True, cloud=FakeCloud(), printer=PrinterSimulator())
    agent.start()
    try:
        yield agent
    finally:
        agent.stop()


def cash_in_browser(page: Page, amount: str) -> None:
    """Ring up a cash sale, exact amount, by clicking."""
    key_in(page, amount)
    page.locator("[data-method='cash']").click()
    page.locator("[data-quick='exact']").click()
    page.locator("#cash-confirm").click()


class TestCashierScreen:
    """What the cashier sees about paper, the network and the unsynced sales."""

    def test_paper_out_is_shown_and_the_receipt_prints_when_paper_is_back(
            self, page: Page, paper_agent: AgentThread) -> None:
        """Paper out: the sale completes, the screen says the receipt waits for paper, the status page lists
        the queued job; paper back: it prints and the screen says so."""
        sim = paper_agent.printer
        assert sim is not None
        sim.paper = "out"
        new_sale(page, paper_agent)
        wait_for(lambda: paper_agent.call("GET", "/api/web/status")[1]["devices"]["printer"]["paper"]
                 == "out", "the printer to report paper out")
        cash_in_browser(page, "1200")
        note = page.get_by_test_id("print-note")
        expect(note).to_contain_text("Out of paper", timeout=8000)
        expect(note).not_to_contain_text("Printing the receipt")
        shot(page, "cashier-paper-out.png")
        status_page = page.context.new_page()
        status_page.goto(paper_agent.url + "/status")
        held = status_page.get_by_test_id("held-jobs")
        expect(held).to_contain_text("queued", timeout=8000)
        expect(held).to_contain_text("Out of paper")
        status_page.close()
        assert receipts(paper_agent) == []
        sim.paper = "ok"
        expect(note).to_contain_text("Receipt printed", timeout=10000)
        assert len(receipts(paper_agent)) == 1

    def test_offline_banner_shows_the_unsynced_count_and_amount(self, page: Page,
                                                              offline_agent: AgentThread) -> None:
        """Two sales stored offline: the banner on the cashier screen says 2 unsynced, ¥3,500."""
        cash_sale(offline_agent, 1000)
        cash_sale(offline_agent, 2500)
        new_sale(page, offline_agent)
        expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "offline", timeout=8000)
        banner = page.get_by_test_id("banner-pending")
        expect(banner).to_contain_text("2 unsynced sales, ¥3,500", timeout=8000)
        expect(banner).to_contain_text("未送信 2 件")
        cash_in_browser(page, "500")
        expect(page.get_by_test_id("result")).to_contain_text("Paid in cash")
        expect(banner).to_contain_text("3 unsynced sales, ¥4,000", timeout=8000)
        shot(page, "cashier-offline-banner.png")

    def test_badge_is_probed_at_start(self, page: Page, online_agent: AgentThread) -> None:
        """No sale yet: the badge already says online (the agent probed the cloud at start)."""
        new_sale(page, online_agent)
        expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "online", timeout=8000)

    def test_online_a_sale_over_the_offline_cap_is_taken_and_synced(self, page: Page,
                                                                   online_agent: AgentThread) -> None:
        """Online, ¥60,000 cash (over the ¥50,000 offline per-sale cap) is taken and reaches the cloud."""
        new_sale(page, online_agent)
        expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "online", timeout=8000)
        cash_in_browser(page, "60000")
        expect(page.get_by_test_id("result")).to_contain_text("Paid in cash")
        wait_for(lambda: online_agent.call("GET", "/api/sales?sync_state=acked")[1]["data"],
                 "the sale to be acknowledged by the cloud")
        [sale] = online_agent.call("GET", "/api/sales")[1]["data"]
        assert (sale["amount"], sale["sync_state"]) == (60000, "acked")


class TestStatusPageStory:
    """Who this terminal is and what it did, on the status page."""

    def test_identity_totals_receipt_preview_and_chart(self, page: Page, shop_agent: AgentThread) -> None:
        """A paid QR sale and a cash sale rung up in the browser: the status page shows the identity, today's
        totals per method including QR, the receipt of the cash sale just made, and the 24 h chart."""
        assert shop_agent.cloud is not None
        status, qr = shop_agent.call("POST", "/api/sales", {"amount": 800, "payment_method": "qr_mpm"})
        assert status == 201, qr
        shop_agent.cloud.pay_all()
        wait_for(lambda: shop_agent.call("GET", f"/api/sales/{qr['local_id']}")[1]["status"] == "succeeded",
                 "the QR sale to be paid")
        new_sale(page, shop_agent)
        cash_in_browser(page, "1500")
        expect(page.get_by_test_id("result")).to_contain_text("Paid in cash")
        expect(page.get_by_test_id("print-note")).to_contain_text("Receipt printed", timeout=10000)
        shot(page, "cashier-cash-printed.png")
        cash = next(s for s in shop_agent.call("GET", "/api/sales?payment_method=cash")[1]["data"])
        listing = shop_agent.call("GET", "/api/sales")[1]["data"]
        assert {(s["payment_method"], s["status"]) for s in listing} == {("cash", "succeeded"),
                                                                          ("qr_mpm", "succeeded")}

        page.goto(shop_agent.url + "/status")
        expect(page.get_by_test_id("live")).to_have_attribute("data-mode", "sse", timeout=8000)
        expect(page.get_by_test_id("id-serial")).to_have_text("WEB-TEST-1", timeout=8000)
        expect(page.get_by_test_id("id-device")).to_have_text("dev_web_1")
        expect(page.get_by_test_id("id-cloud")).to_contain_text("http://127.0.0.1:")
        expect(page.get_by_test_id("id-version")).not_to_have_text("—")
        expect(page.get_by_test_id("id-addresses")).to_contain_text("127.0.0.1")
        expect(page.get_by_test_id("id-cert")).to_contain_text("HTTP")
        today = page.get_by_test_id("today")
        expect(today.locator("tr[data-method='cash']")).to_contain_text("1")
        expect(today.locator("tr[data-method='cash']")).to_contain_text("¥1,500")
        expect(today.locator("tr[data-method='qr_mpm']")).to_contain_text("¥800")
        expect(today.locator("tr.total")).to_contain_text("¥2,300")
        recent = page.get_by_test_id("recent-sales")
        expect(recent.locator("tr[data-method='qr_mpm']")).to_contain_text("Succeeded")
        expect(recent.locator("tr[data-method='cash']")).to_contain_text(cash["merchant_ref_id"])
        preview = page.get_by_test_id("receipt-preview")
        expect(preview).to_be_visible()
        expect(preview).to_have_attribute("data-receipt", cash["local_id"])
        wait_for(lambda: page.evaluate("document.getElementById('receipt-img').naturalHeight") > 300,
                 "the receipt image to load")
        chart = page.get_by_test_id("chart")
        expect(chart.locator("path.depth")).to_have_count(1)
        expect(page.get_by_test_id("chart-summary")).to_contain_text("2 sales taken")
        shot(page, "status-terminal.png")

        url = f"{shop_agent.url}/api/web/receipt.png"
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 -- loopback URL we built
            image = Image.open(io.BytesIO(resp.read()))
        assert image.width == 512

    def test_recent_log_behind_the_admin_password(self, page: Page, offline_agent: AgentThread) -> None:
        """The admin area shows the last log lines; the device secret never appears in them."""
        cash_sale(offline_agent, 400)
        page.goto(offline_agent.url + "/status")
        page.get_by_test_id("admin-password").fill(ADMIN_PASSWORD)
        page.locator("[data-action='sync_now']").click()
        expect(page.get_by_test_id("admin-result")).to_contain_text("同期できませんでした")
        page.locator("[data-action='logs']").click()
        view = page.get_by_test_id("log-view")
        expect(view).to_be_visible()
        expect(view).to_contain_text("sync")
        assert "sk_test_web" not in view.inner_text()
        expect(page.locator("#f-last-error")).to_contain_text("cannot connect to the cloud")
        shot(page, "status-admin-log.png")
