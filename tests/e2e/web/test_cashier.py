"""The cashier screen `/` in headless Chromium against a real agent (real SQLite store, offline cloud)."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Dialog, Page, expect

from tests.e2e.web.harness import AgentThread


def key_in(page: Page, digits: str) -> None:
    """Tap the on-screen keypad like a cashier."""
    for d in digits:
        page.locator(f"#keypad [data-key='{d}']").click()


def new_sale(page: Page, agent: AgentThread) -> None:
    """Open the cashier screen."""
    page.goto(agent.url + "/")
    expect(page.get_by_test_id("display")).to_have_text("¥0")


class TestCashierScreen:
    """Sales rung up by clicking, checked against what the agent stored."""

    def test_cash_sale_shows_change(self, page: Page, agent: AgentThread, tmp_path: Path) -> None:
        """Amount 1,234, ¥5,000 received: the screen shows ¥3,766 change and the agent stored that sale."""
        new_sale(page, agent)
        key_in(page, "1234")
        expect(page.get_by_test_id("display")).to_have_text("¥1,234")
        page.locator("[data-method='cash']").click()
        page.locator("[data-quick='5000']").click()
        expect(page.get_by_test_id("display")).to_have_text("¥5,000")
        page.locator("#cash-confirm").click()
        result = page.get_by_test_id("result")
        expect(result).to_contain_text("おつり Change ¥3,766")
        page.screenshot(path=str(tmp_path / "cashier-cash.png"))
        status, listing = agent.call("GET", "/api/sales?payment_method=cash")
        assert status == 200
        [sale] = listing["data"]
        got = (sale["amount"], sale["result"]["cash_received"], sale["result"]["change"])
        assert got == (1234, 5000, 3766)
        expect(result).to_contain_text(sale["merchant_ref_id"])

    def test_card_sale_approved_shows_brand_and_last4(self, page: Page, agent: AgentThread) -> None:
        """A card result from the external terminal: Approved, brand and only the last 4 digits."""
        new_sale(page, agent)
        key_in(page, "880")
        page.locator("[data-method='card']").click()
        page.locator("select[name='card_brand']").select_option("JCB")
        page.get_by_test_id("card-last4").fill("4242")
        page.get_by_test_id("card-approval").fill("A1B2C3")
        page.locator("#card-confirm").click()
        result = page.get_by_test_id("result")
        expect(result).to_contain_text("Approved")
        expect(result).to_contain_text("JCB •••• 4242")
        status, listing = agent.call("GET", "/api/sales?payment_method=card")
        assert status == 200
        assert listing["data"][0]["result"]["card_last_4"] == "4242"
        assert listing["data"][0]["status"] == "succeeded"

    def test_card_sale_declined(self, page: Page, agent: AgentThread) -> None:
        """A declined card result is shown as declined and recorded as a failed sale."""
        new_sale(page, agent)
        key_in(page, "500")
        page.locator("[data-method='card']").click()
        page.locator("input[name='status'][value='declined']").check()
        page.get_by_test_id("card-last4").fill("0005")
        page.locator("#card-confirm").click()
        expect(page.get_by_test_id("result")).to_contain_text("Declined")
        _status, listing = agent.call("GET", "/api/sales?payment_method=card")
        assert listing["data"][0]["status"] == "failed"

    def test_markup_in_a_field_renders_as_text(self, page: Page, agent: AgentThread) -> None:
        """HTML typed into the approval code comes back from the agent and is shown as text, never run."""
        dialogs: list[str] = []
        def on_dialog(d: Dialog) -> None:
            dialogs.append(d.message)
            d.dismiss()

        page.on("dialog", on_dialog)
        payload = "<img src=x onerror=alert(1)>"
        new_sale(page, agent)
        key_in(page, "100")
        page.locator("[data-method='card']").click()
        page.get_by_test_id("card-last4").fill("1111")
        page.get_by_test_id("card-approval").fill(payload)
        page.locator("#card-confirm").click()
        result = page.get_by_test_id("result")
        expect(result).to_contain_text(payload)
        assert result.locator("img").count() == 0
        assert dialogs == []

    def test_over_the_offline_cap_is_refused_with_a_message(self, page: Page, agent: AgentThread) -> None:
        """¥60,000 in cash is over the ¥50,000 offline cap: a cashier-readable refusal, nothing stored."""
        new_sale(page, agent)
        key_in(page, "60000")
        page.locator("[data-method='cash']").click()
        page.locator("[data-quick='exact']").click()
        page.locator("#cash-confirm").click()
        error = page.get_by_test_id("error")
        expect(error).to_contain_text("Over the offline limit")
        expect(error).to_contain_text(re.compile(r"limit of ¥50,000 per sale"))
        _status, listing = agent.call("GET", "/api/sales")
        assert listing["data"] == []

    def test_full_database_refuses_with_503_message(self, page: Page, tiny_db_agent: AgentThread,
                                                    tmp_path: Path) -> None:
        """Once the 1 MiB database quota is used up, a sale is refused (503) with a call-support message."""
        for size, tries in ((4000, 100), (0, 1000)):  # big sales fill it, small ones the last pages
            meta = {f"k{i}": "x" * size for i in range(15)} if size else {}
            for i in range(tries):  # bounded: 60 KB sales fill 1 MiB in under 20
                status, _body = tiny_db_agent.call("POST", "/api/sales", {
                    "amount": 1, "payment_method": "cash", "cash_received": 1, "metadata": meta,
                    "merchant_ref_id": f"fill-{size}-{i}"})
                if status == 503:
                    break
            assert status == 503
        new_sale(page, tiny_db_agent)
        key_in(page, "300")
        page.locator("[data-method='cash']").click()
        page.locator("[data-quick='exact']").click()
        page.locator("#cash-confirm").click()
        error = page.get_by_test_id("error")
        expect(error).to_contain_text("保存できません Cannot save sales")
        expect(error).to_contain_text("no sale was recorded")
        page.screenshot(path=str(tmp_path / "cashier-db-full.png"))

    def test_not_enough_cash_is_caught_on_screen(self, page: Page, agent: AgentThread) -> None:
        """Cash received below the amount due is refused before anything is sent."""
        new_sale(page, agent)
        key_in(page, "1500")
        page.locator("[data-method='cash']").click()
        page.locator("[data-quick='1000']").click()
        page.locator("#cash-confirm").click()
        expect(page.get_by_test_id("error")).to_contain_text("Not enough cash")
        _status, listing = agent.call("GET", "/api/sales")
        assert listing["data"] == []

    def test_qr_is_unavailable_while_not_connected(self, page: Page, agent: AgentThread) -> None:
        """Not enrolled/offline: the QR button is disabled and the offline banner explains why."""
        new_sale(page, agent)
        expect(page.get_by_test_id("offline-banner")).to_be_visible()
        expect(page.locator("#btn-qr")).to_be_disabled()


class TestQrSale:
    """QR MPM needs the cloud: the screen shows the cloud's QR and waits for the payment."""

    def test_qr_shown_then_paid(self, page: Page, online_agent: AgentThread, tmp_path: Path) -> None:
        """The confirmed intent's QR is drawn as SVG; once the cloud says succeeded, the screen says paid."""
        assert online_agent.cloud is not None
        new_sale(page, online_agent)
        key_in(page, "2980")
        page.locator("[data-method='qr_mpm']").click()
        qr = page.get_by_test_id("qr")
        expect(qr).to_be_visible()
        expect(qr).to_have_attribute("src", re.compile(r"^/api/web/qr\.svg\?data=https%3A%2F%2Fqr\.example"))
        # Polled from Python: wait_for_function evals its string in the page, which the page's CSP forbids.
        for _ in range(100):  # bounded: 100 x 50 ms
            if qr.evaluate("img => img.naturalWidth") > 0:
                break
            page.wait_for_timeout(50)
        assert qr.evaluate("img => img.naturalWidth") > 0, "the QR image never loaded"
        page.screenshot(path=str(tmp_path / "cashier-qr.png"))
        [intent] = online_agent.cloud.intents.values()
        assert intent["amount"] == 2980
        online_agent.cloud.pay_all()
        expect(page.get_by_test_id("result")).to_contain_text("Paid by QR", timeout=8000)


class TestCardReader:
    """With drivers' card reader simulator on a pty, the agent drives the reader itself."""

    def test_reader_approves(self, page: Page, reader_agent: AgentThread, tmp_path: Path) -> None:
        """No manual form: the reader's answer (VISA, last 4 only) is shown and stored."""
        new_sale(page, reader_agent)
        expect(page.locator("body")).to_have_attribute("data-card-reader", "online", timeout=8000)
        key_in(page, "3300")
        page.locator("[data-method='card']").click()
        expect(page.locator("#card-hint")).to_contain_text("Present the card on the reader")
        expect(page.locator("#card-form")).to_be_hidden()
        page.locator("#card-confirm").click()
        result = page.get_by_test_id("result")
        expect(result).to_contain_text("Approved")
        expect(result).to_contain_text("VISA •••• 4242")
        page.screenshot(path=str(tmp_path / "cashier-card-reader.png"))
        _status, listing = reader_agent.call("GET", "/api/sales?payment_method=card")
        assert listing["data"][0]["result"]["entry_method"] == "contactless"
        assert reader_agent.card_reader is not None
        assert [s.amount for s in reader_agent.card_reader.sales] == [3300]

    def test_reader_declines(self, page: Page, reader_agent: AgentThread) -> None:
        """A decline from the reader is shown with its reason."""
        assert reader_agent.card_reader is not None
        reader_agent.card_reader.decline_next("insufficient_funds")
        new_sale(page, reader_agent)
        expect(page.locator("body")).to_have_attribute("data-card-reader", "online", timeout=8000)
        key_in(page, "990")
        page.locator("[data-method='card']").click()
        page.locator("#card-confirm").click()
        result = page.get_by_test_id("result")
        expect(result).to_contain_text("Declined")
        expect(result).to_contain_text("insufficient_funds")
