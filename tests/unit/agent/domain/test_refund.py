"""agent.domain.refund: the rules of itemised refunds (amount from the lines, a line never returned beyond
what was sold minus earlier returns, the batch's own refunds counted) and what is stored of the returned
lines."""

from __future__ import annotations

import json

import pytest

from agent.domain.invoice import Item
from agent.domain.refund import (
    NewRefund,
    RefundRefused,
    ReturnedLine,
    SaleToRefund,
    chained,
    check_refund,
    items_json,
    refund_amount,
    returned_quantities,
    with_earlier,
)

ITEMS = (Item("おにぎり", 150, 2, 8), Item("ビール", 288, 3, 10))
SALE = SaleToRefund("s-1", "cash", "succeeded", 1164, "JPY", 0, items=ITEMS)


def new(*lines: tuple[int, int], amount: int = 150) -> NewRefund:
    return NewRefund("r-1", "s-1", amount, None, "R-1", items=tuple(ReturnedLine(li, q) for li, q in lines))


class TestRefundAmount:
    def test_amount_is_the_lines_sum(self) -> None:
        """Unit price x quantity over the returned lines; a given amount equal to it is accepted."""
        lines = [ReturnedLine(0, 1), ReturnedLine(1, 2)]
        assert refund_amount(SALE, None, lines) == refund_amount(SALE, 726, lines) == 150 + 576

    def test_without_items_the_amount_stands(self) -> None:
        """An amount-only refund keeps its amount, also of a sale without items."""
        assert refund_amount(SaleToRefund("s-2", "cash", "succeeded", 900, "JPY", 0), 300, []) == 300

    @pytest.mark.parametrize(
        ("sale", "amount", "lines", "code", "param"),
        [
            (SALE, 151, [(0, 1)], "refund_items_mismatch", "amount"),
            (
                SaleToRefund("s-2", "cash", "succeeded", 900, "JPY", 0),
                None,
                [(0, 1)],
                "sale_not_itemised",
                "items",
            ),
            (SALE, None, [(2, 1)], "refund_line_invalid", "items[0].line"),
            (SALE, None, [(-1, 1)], "refund_line_invalid", "items[0].line"),
            (SALE, None, [(1, 1), (1, 1)], "refund_line_invalid", "items[1].line"),
            (SALE, None, [], "amount_required", "amount"),
            (None, None, [(0, 1)], "sale_not_found", "local_id"),
        ],
    )
    def test_refusals(
        self,
        sale: SaleToRefund | None,
        amount: int | None,
        lines: list[tuple[int, int]],
        code: str,
        param: str,
    ) -> None:
        """A wrong sum, a sale without items, a line out of range or twice, nothing at all, no sale."""
        with pytest.raises(RefundRefused) as caught:
            refund_amount(sale, amount, [ReturnedLine(li, q) for li, q in lines])
        assert (caught.value.code, caught.value.param) == (code, param)


class TestLinesLeft:
    def test_earlier_returns_count(self) -> None:
        """With one of two rice balls returned (stored or earlier in the batch), one more goes, two do not."""
        stored = returned_quantities([json.dumps([{"line": 0, "quantity": 1}])])
        sale = SaleToRefund("s-1", "cash", "succeeded", 1164, "JPY", 150, items=ITEMS, returned=stored)
        assert check_refund(sale, 150, [ReturnedLine(0, 1)]) is sale
        batch = with_earlier(SALE, [new((0, 1))])
        assert (batch.refunded, dict(batch.returned)) == (150, {0: 1})
        for seen in (sale, batch):
            with pytest.raises(RefundRefused) as caught:
                check_refund(seen, 300, [ReturnedLine(0, 2)])
            assert (caught.value.code, caught.value.status, caught.value.param) == (
                "refund_exceeds_sold",
                409,
                "items[0].quantity",
            )


class TestStoredLines:
    def test_lines_are_stored_with_their_prices_and_read_back(self) -> None:
        """The chained refund keeps line, name, price, quantity and rate; its sync item has no items."""
        refund = chained(new((1, 2), amount=576), SALE, 2, 1000, "00" * 32)
        assert json.loads(refund.items_json or "") == [
            {"line": 1, "name": "ビール", "unit_price": 288, "quantity": 2, "tax_rate": 10}
        ]
        assert refund.returned_items == (Item("ビール", 288, 2, 10),)
        assert refund.returned_lines == (ReturnedLine(1, 2),)
        assert "items" not in json.loads(refund.item_json or "")["refund"]
        assert items_json(new(amount=100), SALE) is None
