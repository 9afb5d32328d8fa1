"""The status page's settlement panel (settlement.js) in headless Chromium against a real agent: X figures
against figures computed here from the sales the test made, and the Z report's PIN, discrepancy and once-a-day
rule (docs/settlement.md)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from playwright.sync_api import Locator, Page, expect

from tests.e2e.web.harness import ADMIN_PASSWORD, AgentThread
from tests.e2e.web.test_item_entry import yen
from tests.e2e.web.test_status import cash_sale

# (method, amount, card brand, approved): the day the test rings up through the agent's API.
SALES = (
    ("cash", 1200, None, True),
    ("card", 3000, "VISA", True),
    ("cash", 850, None, True),
    ("card", 2200, "JCB", True),
    ("card", 500, "VISA", False),
)
COUNTED = 2000


def card_sale(agent: AgentThread, amount: int, brand: str, approved: bool) -> None:
    """A card sale with the external terminal's result, as the cashier screen sends it."""
    result = {
        "status": "approved" if approved else "declined",
        "card_brand": brand,
        "card_last_4": "4242",
        "approval_code": "A1" if approved else None,
        "entry_method": "manual",
    }
    status, sale = agent.call(
        "POST", "/api/sales", {"amount": amount, "payment_method": "card", "card_result": result}
    )
    assert status == 201, sale


def ring_up(agent: AgentThread) -> None:
    """Make the day's sales."""
    for method, amount, brand, approved in SALES:
        if method == "cash":
            cash_sale(agent, amount)
        else:
            card_sale(agent, amount, str(brand), approved)


def expected_rows() -> dict[str, tuple[str, str]]:
    """label -> (count, amount) of the X report, worked out here from SALES (only succeeded sales count)."""
    ok = [(m, a, b) for m, a, b, approved in SALES if approved]
    cash = [a for m, a, _ in ok if m == "cash"]
    cards = [(a, b) for m, a, b in ok if m == "card"]
    rows = {
        "現金 Cash": (str(len(cash)), yen(sum(cash))),
        "カード Card": (str(len(cards)), yen(sum(a for a, _ in cards))),
    }
    for brand in sorted({str(b) for _, b in cards}):
        mine = [a for a, b in cards if b == brand]
        rows[brand] = (str(len(mine)), yen(sum(mine)))
    total = sum(a for _, a, _ in ok)
    rows["合計 Total"] = (str(len(ok)), yen(total))
    rows["返品 Refunds"] = ("0", yen(0))  # no refund in this day
    rows["純売上 Net"] = ("", yen(total))
    rows["現金 理論値 Cash expected"] = ("", yen(sum(cash)))
    return rows


def signed_yen(amount: int) -> str:
    """-¥50 / ¥50 as the page writes a discrepancy."""
    return f"-{yen(-amount)}" if amount < 0 else yen(amount)


def cells(table: Locator) -> list[list[str]]:
    """The text of each body cell of a table, row by row."""
    got = table.locator("tbody tr").evaluate_all("rs => rs.map(r => [...r.cells].map(c => c.textContent))")
    return [[str(c) for c in row] for row in got]


def shown_rows(table: Locator) -> dict[str, tuple[str, str]]:
    """label -> (count, amount) as the panel's X table shows them."""
    return {row[0].strip(): (row[1], row[2]) for row in cells(table)}


def close_day(page: Page, counted: str, pin: str) -> Locator:
    """Type the counted cash and the PIN, press Close the day; the result line."""
    page.get_by_test_id("z-counted").fill(counted)
    page.get_by_test_id("z-password").fill(pin)
    page.get_by_test_id("z-close").click()
    return page.get_by_test_id("z-result")


class TestSettlementPanel:
    """What a store manager sees and does in the settlement panel."""

    def test_x_report_shows_the_days_figures(self, page: Page, offline_agent: AgentThread) -> None:
        """Cash, card per brand, total and cash expected on the page equal the figures computed here."""
        ring_up(offline_agent)
        page.goto(offline_agent.url + "/status")
        x_table = page.get_by_test_id("x-report")
        expect(x_table.locator("tbody tr").first).to_be_visible()
        shown, want = shown_rows(x_table), expected_rows()
        assert {k: shown.get(k) for k in want} == want
        expect(page.get_by_test_id("expired-sales").locator("tbody")).to_have_text("なし None")  # no X rows
        assert offline_agent.call("GET", "/api/settlement/z")[1]["data"] == []  # looking changed nothing

    def test_z_report_pin_discrepancy_and_once_a_day(
        self, page: Page, offline_agent: AgentThread, tmp_path: Path
    ) -> None:
        """No count or a wrong PIN: nothing closed; then Z0001 with counted − expected; a second Z refused."""
        ring_up(offline_agent)
        cash = sum(a for m, a, _, ok in SALES if m == "cash" and ok)
        total, discrepancy = sum(a for _, a, _, ok in SALES if ok), COUNTED - cash
        today = datetime.now(ZoneInfo(offline_agent.settings.store.timezone)).date().isoformat()
        page.goto(offline_agent.url + "/status")
        result = close_day(page, "", ADMIN_PASSWORD)  # forgot to count: not a count of ¥0
        expect(result).to_contain_text("Enter the cash counted")
        result = close_day(page, str(COUNTED), "not-the-pin")
        expect(result).to_contain_text("The admin password is wrong.")
        assert offline_agent.call("GET", "/api/settlement/z")[1]["data"] == []
        assert offline_agent.call("GET", "/api/settlement/x")[1]["total_amount"] == total
        result = close_day(page, str(COUNTED), ADMIN_PASSWORD)
        expect(result).to_have_text(
            f"精算しました Day closed: Z0001 ({today}), 過不足 discrepancy {signed_yen(discrepancy)}"
        )
        z_table = page.get_by_test_id("z-reports")
        expect(z_table.locator("tbody tr")).to_have_count(1)
        assert cells(z_table)[0][:4] == ["Z0001", today, yen(total), signed_yen(discrepancy)]
        [stored] = offline_agent.call("GET", "/api/settlement/z")[1]["data"]
        want = {
            "z_number": 1,
            "total_amount": total,
            "cash_expected": cash,
            "cash_actual": COUNTED,
            "cash_discrepancy": discrepancy,
        }
        assert {k: stored[k] for k in want} == want
        # The panel then shows the next business day, open and empty.
        expect(page.get_by_test_id("x-report")).to_contain_text("合計 Total0¥0")
        page.screenshot(path=str(tmp_path / "status-z-report.png"), full_page=True)
        result = close_day(page, str(COUNTED), ADMIN_PASSWORD)
        expect(result).to_contain_text(f"The business day {today} is already closed")
        expect(z_table.locator("tbody tr")).to_have_count(1)
        assert len(offline_agent.call("GET", "/api/settlement/z")[1]["data"]) == 1
