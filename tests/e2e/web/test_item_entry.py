"""The cashier screen's item entry (items.js) in headless Chromium against a real agent: a mixed-rate sale
whose running total and per-rate tax are computed here (docs/receipts.md), and bad entries refused."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.e2e.web.harness import AgentThread
from tests.e2e.web.test_cashier import key_in, new_sale

LABELS = {10: "10%対象", 8: "8%対象 ※", 0: "非課税"}


@dataclass(frozen=True)
class Line:
    """One item as the cashier types it: name, tax-inclusive unit price (yen), quantity, rate."""

    name: str
    unit_price: int
    quantity: int
    tax_rate: int

    def json(self) -> dict[str, object]:
        """The item as the agent stores it."""
        return {
            "name": self.name,
            "unit_price": self.unit_price,
            "quantity": self.quantity,
            "tax_rate": self.tax_rate,
        }


# Chosen so that rounding per item would differ from once per rate (10 %: 9 + 9 ≠ 19; 8 %: 11 + 22 ≠ 34).
SALE = (
    Line("ノート Notebook", 106, 2, 10),
    Line("おにぎり Rice ball", 160, 1, 8),
    Line("お茶 Tea", 300, 1, 8),
    Line("切手 Stamp", 84, 2, 0),
)


def per_rate(lines: tuple[Line, ...]) -> dict[int, tuple[int, int]]:
    """rate -> (tax-inclusive total, tax inside it rounded down once per rate), worked out here."""
    out: dict[int, tuple[int, int]] = {}
    for rate in sorted({li.tax_rate for li in lines}, reverse=True):
        gross = sum(li.unit_price * li.quantity for li in lines if li.tax_rate == rate)
        out[rate] = (gross, gross * rate // (100 + rate))
    return out


def yen(amount: int) -> str:
    """¥1,234 as the screen writes it."""
    return f"¥{amount:,}"


def add_item(page: Page, name: str, price: str, qty: str, rate: str = "10") -> None:
    """Type one item into the form and press Add, like a cashier."""
    page.get_by_test_id("item-name").fill(name)
    page.get_by_test_id("item-price").fill(price)
    page.get_by_test_id("item-qty").fill(qty)
    page.get_by_test_id("item-rate").select_option(rate)
    page.get_by_test_id("item-add").click()


class TestItemEntry:
    """Items typed on the cashier screen, checked against figures computed here and the stored sale."""

    def test_mixed_rate_sale_totals_tax_and_stored_items(
        self, page: Page, agent: AgentThread, tmp_path: Path
    ) -> None:
        """10 %, two 8 % and an exempt line: total and tax per rate as computed here, kept by the sale."""
        rates, total = per_rate(SALE), sum(li.unit_price * li.quantity for li in SALE)
        assert (total, rates[10][1], rates[8][1]) == (840, 19, 34)  # the worked figures of this sale
        new_sale(page, agent)
        for n, li in enumerate(SALE, start=1):
            add_item(page, li.name, str(li.unit_price), str(li.quantity), str(li.tax_rate))
            running = sum(x.unit_price * x.quantity for x in SALE[:n])
            expect(page.get_by_test_id("item-total")).to_have_text(f"小計 Subtotal {yen(running)}")
        expect(page.get_by_test_id("item-rows").locator("li")).to_have_count(len(SALE))
        expect(page.get_by_test_id("item-rows")).to_contain_text("※おにぎり Rice ball")
        expect(page.get_by_test_id("item-total")).to_have_text(f"小計 Subtotal {yen(total)}")
        expect(page.get_by_test_id("display")).to_have_text(yen(total))
        key_in(page, "5")  # the keypad leaves an item sale's amount alone
        expect(page.get_by_test_id("display")).to_have_text(yen(total))
        shown = page.get_by_test_id("item-rates").locator("li")
        expect(shown).to_have_text(
            [
                f"{LABELS[r]} {yen(g)}" + (f" (内消費税等 {yen(t)})" if r else "")
                for r, (g, t) in rates.items()
            ]
        )
        page.screenshot(path=str(tmp_path / "cashier-items.png"))
        page.locator("[data-method='cash']").click()
        page.locator("[data-quick='1000']").click()
        page.locator("#cash-confirm").click()
        expect(page.get_by_test_id("result")).to_contain_text(f"おつり Change {yen(1000 - total)}")
        status, listing = agent.call("GET", "/api/sales?payment_method=cash")
        assert status == 200
        [sale] = listing["data"]
        assert (sale["amount"], sale["status"], sale["result"]["change"]) == (
            total,
            "succeeded",
            1000 - total,
        )
        assert sale["metadata"]["line_items"] == [li.json() for li in SALE]
        assert {r["rate"]: (r["gross"], r["tax"]) for r in sale["metadata"]["tax_summary"]} == rates
        page.locator("#next-sale").click()
        expect(page.get_by_test_id("item-rows").locator("li")).to_have_count(0)
        expect(page.get_by_test_id("item-rates").locator("li")).to_have_count(0)
        expect(page.get_by_test_id("display")).to_have_text("¥0")

    def test_bad_entries_refused_with_a_message_and_no_sale(self, page: Page, agent: AgentThread) -> None:
        """Blank name, quantity 0, negative price: refused on screen; an unknown rate: the sale is refused."""
        new_sale(page, agent)
        error, rows = page.get_by_test_id("item-error"), page.get_by_test_id("item-rows").locator("li")
        for name, price, qty, field in (
            ("   ", "100", "1", "品名 Name"),
            ("Pen", "100", "0", "数量 Qty"),
            ("Pen", "-5", "1", "単価 Price"),
        ):
            add_item(page, name, price, qty)
            expect(error).to_be_visible()
            expect(error).to_contain_text(f"{field}: ")
            assert len(error.inner_text()) > len(field) + 3  # the browser's or our own reason follows
            expect(rows).to_have_count(0)
            expect(page.get_by_test_id("display")).to_have_text("¥0")
        page.get_by_test_id("item-rate").evaluate("s => s.add(new Option('5%', '5'))")  # a doctored page
        add_item(page, "Pen", "100", "1", "5")
        expect(error).to_be_hidden()
        expect(rows).to_have_count(1)
        page.locator("[data-method='cash']").click()
        page.locator("[data-quick='exact']").click()
        page.locator("#cash-confirm").click()
        expect(page.get_by_test_id("error")).to_contain_text("is not a rate this terminal knows")
        expect(page.get_by_test_id("result")).to_be_hidden()
        status, listing = agent.call("GET", "/api/sales")
        assert (status, listing["data"]) == (200, [])
