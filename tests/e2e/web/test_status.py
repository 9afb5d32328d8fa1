"""The status page `/status` in headless Chromium against a real agent: facts, devices, admin gate."""

from __future__ import annotations

import json
from pathlib import Path

from playwright.sync_api import Dialog, Page, expect

from tests.e2e.web.fake_cloud import CLOCK_AHEAD_MS, HOSTILE, REJECT_AMOUNT
from tests.e2e.web.harness import ADMIN_PASSWORD, AgentThread


def cash_sale(agent: AgentThread, amount: int) -> dict[str, object]:
    """Ring up a cash sale through the agent's API; returns the stored sale."""
    status, sale = agent.call("POST", "/api/sales", {"amount": amount, "payment_method": "cash",
                                                     "cash_received": amount})
    assert status == 201, sale
    return dict(sale)


class TestStatusPage:
    """What a store manager sees, and what they may do with the admin password."""

    def test_queue_depth_and_pending_amount(self, page: Page, agent: AgentThread, tmp_path: Path) -> None:
        """Two unsynced sales of ¥1,000 and ¥2,500: the page shows 2 queued and ¥3,500 pending."""
        cash_sale(agent, 1000)
        cash_sale(agent, 2500)
        page.goto(agent.url + "/status")
        expect(page.get_by_test_id("queue-depth")).to_have_text("2")
        expect(page.get_by_test_id("pending-amount")).to_have_text("¥3,500")
        expect(page.get_by_test_id("connected")).to_contain_text("Not enrolled")
        expect(page.get_by_test_id("caps")).to_have_text("2 / 1000 sales · ¥3,500 / ¥500,000")
        expect(page.get_by_test_id("database")).to_have_text("OK")
        page.screenshot(path=str(tmp_path / "status-not-enrolled.png"), full_page=True)

    def test_page_refreshes_by_itself(self, page: Page, agent: AgentThread) -> None:
        """A sale made after the page loaded shows up without a reload."""
        page.goto(agent.url + "/status")
        expect(page.get_by_test_id("queue-depth")).to_have_text("0")
        cash_sale(agent, 700)
        expect(page.get_by_test_id("queue-depth")).to_have_text("1", timeout=8000)

    def test_admin_disabled_when_not_enrolled(self, page: Page, agent: AgentThread) -> None:
        """No enrollment, no admin password: actions are disabled with a message, and the API refuses them."""
        page.goto(agent.url + "/status")
        expect(page.get_by_test_id("admin-disabled")).to_contain_text("not enrolled")
        expect(page.locator("[data-action='test_print']")).to_be_disabled()
        status, body = agent.call("POST", "/api/web/admin/sync_now", {"password": "anything"})
        assert (status, body["error"]["code"]) == (403, "not_enrolled")

    def test_admin_action_refused_without_the_right_password(self, page: Page,
                                                             offline_agent: AgentThread) -> None:
        """Empty or wrong password: refused with a message; the right one runs the action (sync now)."""
        cash_sale(offline_agent, 300)
        page.goto(offline_agent.url + "/status")
        expect(page.get_by_test_id("admin-disabled")).to_be_hidden()
        page.locator("[data-action='sync_now']").click()
        expect(page.get_by_test_id("admin-result")).to_contain_text(
            "Enter the admin password of this terminal.")
        page.get_by_test_id("admin-password").fill("not-the-password")
        page.locator("[data-action='sync_now']").click()
        expect(page.get_by_test_id("admin-result")).to_contain_text("The admin password is wrong.")
        page.get_by_test_id("admin-password").fill(ADMIN_PASSWORD)
        page.locator("[data-action='sync_now']").click()
        expect(page.get_by_test_id("admin-result")).to_contain_text("Sync failed: network error")
        expect(page.get_by_test_id("admin-result")).to_contain_text("still pending 1")

    def test_offline_banner_when_the_cloud_is_unreachable(self, page: Page, offline_agent: AgentThread,
                                                          tmp_path: Path) -> None:
        """An upload fails against a closed port: both pages show the offline banner and the error."""
        cash_sale(offline_agent, 1200)
        page.goto(offline_agent.url + "/status")
        expect(page.get_by_test_id("connected")).to_have_text("オフライン Offline", timeout=8000)
        expect(page.get_by_test_id("offline-banner")).to_be_visible()
        expect(page.locator("#f-last-error")).to_contain_text("network error")
        page.screenshot(path=str(tmp_path / "status-offline.png"), full_page=True)
        page.goto(offline_agent.url + "/")
        expect(page.get_by_test_id("offline-banner")).to_contain_text("The cloud cannot be reached")
        expect(page.locator("#btn-qr")).to_be_disabled()
        page.screenshot(path=str(tmp_path / "cashier-offline.png"))

    def test_online_sync_and_quarantine_shown_as_text(self, page: Page, online_agent: AgentThread,
                                                      tmp_path: Path) -> None:
        """Synced to the cloud: connected, clock offset, and a rejected item's cloud message shown as text."""
        dialogs: list[str] = []
        def on_dialog(d: Dialog) -> None:
            dialogs.append(d.message)
            d.dismiss()

        page.on("dialog", on_dialog)
        cash_sale(online_agent, 800)
        cash_sale(online_agent, REJECT_AMOUNT)
        page.goto(online_agent.url + "/status")
        expect(page.get_by_test_id("connected")).to_have_text("接続中 Connected", timeout=8000)
        expect(page.get_by_test_id("queue-depth")).to_have_text("0", timeout=8000)
        quarantined = page.get_by_test_id("quarantined")
        expect(quarantined).to_contain_text(HOSTILE)
        expect(quarantined).to_contain_text("¥4,444")
        assert quarantined.locator("img").count() == 0
        offset = float(page.locator("#f-clock").inner_text().removesuffix(" s"))
        assert CLOCK_AHEAD_MS / 1000 - 1 < offset < CLOCK_AHEAD_MS / 1000 + 1
        expect(page.get_by_test_id("offline-banner")).to_be_hidden()
        assert dialogs == []
        page.screenshot(path=str(tmp_path / "status-online.png"), full_page=True)

    def test_support_bundle_download(self, page: Page, offline_agent: AgentThread) -> None:
        """With the password the manager downloads a JSON bundle of facts that holds no secret."""
        cash_sale(offline_agent, 650)
        page.goto(offline_agent.url + "/status")
        page.get_by_test_id("admin-password").fill(ADMIN_PASSWORD)
        with page.expect_download() as info:
            page.locator("[data-action='support_bundle']").click()
        text = Path(info.value.path()).read_text(encoding="utf-8")
        bundle = json.loads(text)
        assert [s["amount"] for s in bundle["recent_sales"]] == [650]
        assert bundle["config"]["agent"]["serial"] == "WEB-TEST-1"
        for secret in ("sk_test_web", ADMIN_PASSWORD, "scrypt$"):
            assert secret not in text
        expect(page.get_by_test_id("admin-result")).to_contain_text("Support bundle downloaded")

    def test_expired_sales_listed(self, page: Page, expiring_agent: AgentThread) -> None:
        """A sale that never reached the cloud within the max age is listed as expired, not hidden."""
        sale = cash_sale(expiring_agent, 1500)
        page.goto(expiring_agent.url + "/status")
        expect(page.get_by_test_id("expired")).to_have_text("1", timeout=8000)
        expired = page.get_by_test_id("expired-sales")
        expect(expired).to_contain_text(str(sale["merchant_ref_id"]))
        expect(expired).to_contain_text("¥1,500")
