"""Qualified invoice rules: the registration number's check digit and the tax per rate, rounded once."""

from __future__ import annotations

import pytest

from agent.domain.errors import SaleRefused
from agent.domain.invoice import Item, check_items, rate_totals, registration_number_problem


class TestRegistrationNumber:
    @pytest.mark.parametrize("number", [
        "T7123456789012",  # the worked example beside the rule (sum 74, 74 mod 9 = 2, 9 - 2 = 7)
        "T7000012050002",  # the National Tax Agency's corporate number
        "T9000000000009",  # weighted sum 9: remainder 0, check digit 9 (never 0)
    ])
    def test_valid(self, number: str) -> None:
        """T + 13 digits, the first 9 - (weighted sum of the other 12 mod 9), weights 1, 2 from the right."""
        assert registration_number_problem(number) is None

    @pytest.mark.parametrize(("number", "why"), [
        ("T7123456789013", "check digit"), ("T0000000000009", "check digit"), ("7123456789012", "13 digits"),
        ("T712345678901", "13 digits"), ("T71234567890122", "13 digits"), ("t7123456789012", "13 digits"),
        ("T712345678901２", "13 digits"), ("T 123456789012", "13 digits"),
    ])
    def test_invalid(self, number: str, why: str) -> None:
        """A wrong check digit, a missing or lower-case T, a wrong length, a full-width digit, a space."""
        problem = registration_number_problem(number)
        assert problem is not None and why in problem


class TestTaxPerRate:
    def test_rounded_once_per_rate_not_per_item(self) -> None:
        """8 %: 160 and 300 hold 11.85 and 22.22 of tax; once per rate on 460 it is 34 (per item: 33)."""
        items = [Item("a", 160, 1, 8), Item("b", 150, 2, 8), Item("c", 398, 1, 10), Item("d", 288, 3, 10)]
        totals = {rt.rate: (rt.gross, rt.tax) for rt in rate_totals(items)}
        assert totals == {8: (460, 460 * 8 // 108), 10: (1262, 1262 * 10 // 110)}
        assert totals[8][1] == 34 and totals[10][1] == 114  # floor: 114.7 is 114, not 115

    def test_exempt_has_no_tax_and_order_is_10_8_exempt(self) -> None:
        """Exempt items are totalled without tax, after the 10 % and 8 % lines."""
        rates = rate_totals([Item("stamp", 84, 1, 0), Item("tea", 108, 1, 8), Item("pen", 110, 1, 10)])
        assert [(rt.rate, rt.gross, rt.tax, rt.exempt, rt.reduced) for rt in rates] == [
            (10, 110, 10, False, False), (8, 108, 8, False, True), (0, 84, 0, True, False)]

    def test_refusals(self) -> None:
        """An unknown rate names its item; a sum that is not the amount is refused."""
        with pytest.raises(SaleRefused) as unknown:
            check_items([Item("a", 100, 1, 10), Item("b", 100, 1, 5)], 200)
        assert (unknown.value.code, unknown.value.param) == ("unknown_tax_rate", "items[1].tax_rate")
        with pytest.raises(SaleRefused) as mismatch:
            check_items([Item("a", 100, 2, 10)], 100)
        assert mismatch.value.code == "items_total_mismatch"
