"""The status page's refund and settlement widgets in headless Chromium against a real agent (offline): a
refund with the manager's PIN, a wrong PIN refused, the X report showing the refund and the net, the Z report
closing the day with the cash expected after the cash refund."""

from __future__ import annotations

import json
import sqlite3

from playwright.sync_api import Page, expect

from tests.e2e.web.harness import ADMIN_PASSWORD, AgentThread
from tests.e2e.web.test_status import cash_sale


class TestRefundWidget:
    """What a store manager does at the end of a day with a returned item."""

    def test_refund_then_x_and_z(self, page: Page, offline_agent: AgentThread) -> None:
        """Refund ¥300 of a ¥1,000 cash sale on the page; X shows 1 refund and ¥700 net; Z closes at ¥700."""
        sale = cash_sale(offline_agent, 1000)
        page.goto(offline_agent.url + "/status")
        expect(page.get_by_test_id("r-sale").locator("option")).to_have_count(1)
        assert page.get_by_test_id("r-sale").input_value() == sale["local_id"]
        page.get_by_test_id("r-amount").fill("300")
        page.get_by_test_id("r-password").fill("not-the-password")
        page.get_by_test_id("r-submit").click()
        expect(page.get_by_test_id("r-result")).to_contain_text("The admin password is wrong.")
        page.get_by_test_id("r-password").fill(ADMIN_PASSWORD)
        page.get_by_test_id("r-reason").fill("返品 customer return")
        page.get_by_test_id("r-submit").click()
        expect(page.get_by_test_id("r-result")).to_contain_text("Refunded")
        expect(page.get_by_test_id("r-result")).to_contain_text("queued")
        page.get_by_test_id("r-password").fill(ADMIN_PASSWORD)
        page.get_by_test_id("r-amount").fill("701")
        page.get_by_test_id("r-submit").click()
        expect(page.get_by_test_id("r-result")).to_contain_text("¥700")  # what is left, in the refusal

        page.locator("#x-refresh").click()
        report = page.get_by_test_id("x-report")
        expect(report.locator("tr", has_text="返品 Refunds")).to_contain_text("1")
        expect(report.locator("tr", has_text="純売上 Net")).to_contain_text("700")
        expect(report.locator("tr", has_text="Cash expected")).to_contain_text("700")
        expect(page.get_by_test_id("expired-sales")).not_to_contain_text("合計 Total")

        page.get_by_test_id("z-counted").fill("700")
        page.get_by_test_id("z-password").fill(ADMIN_PASSWORD)
        page.get_by_test_id("z-close").click()
        expect(page.get_by_test_id("z-result")).to_contain_text("Day closed")
        expect(page.get_by_test_id("z-result")).to_contain_text("¥0")

    def test_a_retry_sends_the_same_reference(self, page: Page, offline_agent: AgentThread) -> None:
        """The widget sends one merchant_refund_id per refund meant: the same again when the same refund is
        retried after a failure (so a retry after a lost answer can never refund twice), a new one after it
        went through."""
        sale = cash_sale(offline_agent, 1000)
        sent: list[dict[str, object]] = []
        page.on("request", lambda r: sent.append(json.loads(r.post_data or "{}"))
                if r.method == "POST" and r.url.endswith("/refunds") else None)
        page.goto(offline_agent.url + "/status")
        expect(page.get_by_test_id("r-sale").locator("option")).to_have_count(1)
        assert page.get_by_test_id("r-sale").input_value() == sale["local_id"]
        page.get_by_test_id("r-amount").fill("300")
        for password, shown in (("not-the-password", "wrong"), (ADMIN_PASSWORD, "Refunded")):
            page.get_by_test_id("r-password").fill(password)
            page.get_by_test_id("r-submit").click()
            expect(page.get_by_test_id("r-result")).to_contain_text(shown)
        page.get_by_test_id("r-password").fill(ADMIN_PASSWORD)
        with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/refunds")) as got:
            page.get_by_test_id("r-submit").click()  # the same fields again, after success: a second refund
        assert got.value.status == 201
        refs = [body.get("merchant_refund_id") for body in sent]
        assert len(refs) == 3 and all(isinstance(ref, str) and ref for ref in refs), sent
        assert refs[0] == refs[1] != refs[2]
        with sqlite3.connect(offline_agent.settings.agent.db_path) as conn:
            rows = conn.execute("SELECT merchant_refund_id FROM refunds ORDER BY created_at, local_id")
            stored = [r[0] for r in rows]
        assert stored == refs[1:]

    def test_itemised_refund_from_the_page(self, page: Page, offline_agent: AgentThread) -> None:
        """An itemised sale shows its lines; choosing two of the three beers refunds their price (computed by
        the agent, shown in the amount), stored with those lines; two more of them are refused (one left)."""
        items = [{"name": "おにぎり", "unit_price": 150, "quantity": 2, "tax_rate": 8},
                 {"name": "ビール", "unit_price": 288, "quantity": 3, "tax_rate": 10}]
        status, sale = offline_agent.call("POST", "/api/sales", {
            "amount": 1164, "payment_method": "cash", "cash_received": 2000, "items": items})
        assert status == 201, sale
        page.goto(offline_agent.url + "/status")
        expect(page.get_by_test_id("r-sale").locator("option")).to_have_count(1)
        expect(page.get_by_test_id("r-items").locator("tbody tr")).to_have_count(2)
        expect(page.get_by_test_id("r-items")).to_contain_text("おにぎり ※")
        page.get_by_test_id("r-item-1").fill("2")
        expect(page.get_by_test_id("r-amount")).to_have_value(str(288 * 2))
        expect(page.get_by_test_id("r-amount")).to_be_disabled()
        page.get_by_test_id("r-password").fill(ADMIN_PASSWORD)
        page.get_by_test_id("r-submit").click()
        expect(page.get_by_test_id("r-result")).to_contain_text("Refunded ¥576")
        with sqlite3.connect(offline_agent.settings.agent.db_path) as conn:
            ((amount, stored),) = conn.execute("SELECT amount, items_json FROM refunds").fetchall()
        assert amount == 576
        assert [(i["line"], i["quantity"]) for i in json.loads(stored)] == [(1, 2)]
        expect(page.get_by_test_id("r-item-1")).to_have_value("0")  # the form starts again
        page.get_by_test_id("r-item-1").fill("2")
        page.get_by_test_id("r-password").fill(ADMIN_PASSWORD)
        page.get_by_test_id("r-submit").click()
        expect(page.get_by_test_id("r-result")).to_contain_text("Only 1 of line 1")

    def test_rejected_refund_is_shown_as_a_refund(self, page: Page, offline_agent: AgentThread) -> None:
        """A refund the cloud rejected shows in the quarantined table, marked as a refund, with the reason."""
        sale = cash_sale(offline_agent, 1000)
        status, refund = offline_agent.call("POST", f"/api/sales/{sale['local_id']}/refunds",
                                            {"amount": 400, "password": ADMIN_PASSWORD})
        assert status == 201, refund
        verdict = json.dumps({"code": "payment_not_found", "message": "No such payment on the cloud."})
        with sqlite3.connect(offline_agent.settings.agent.db_path) as conn:  # the cloud's verdict, as applied
            conn.execute("UPDATE refunds SET sync_state = 'rejected', sync_error = ? WHERE local_id = ?",
                         (verdict, refund["local_id"]))
        page.goto(offline_agent.url + "/status")
        row = page.get_by_test_id("quarantined").locator("tbody tr")
        expect(row).to_contain_text(f"{refund['seq']} 返品 Refund")
        expect(row).to_contain_text("¥400")
        expect(row).to_contain_text("No such payment on the cloud.")
