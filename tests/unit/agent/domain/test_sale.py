"""The sale record: the docs/sync-protocol.md item, its canonical JSON and its hash."""

from __future__ import annotations

import hashlib
import json

from agent.domain.money import format_money
from agent.domain.sale import NewSale, chain, same_request
from sync.wire import GENESIS_HASH


class TestChain:
    def test_item_json_and_hash_follow_design(self) -> None:
        """hash = sha256(prev_hash + canonical item JSON without hash); item_json is exactly those bytes."""
        new = NewSale(
            "ref-1",
            1200,
            "JPY",
            "cash",
            "succeeded",
            {"cash_received": 2000, "change": 800},
            {"table": "5", "note": "ラテ"},
        )
        sale = chain(new, "0190a000-0000-7000-8000-000000000001", 1, 1_800_000_000_000, GENESIS_HASH)
        expected = (
            '{"created_at":1800000000000,"intent":{"amount":1200,"currency":"JPY",'
            '"merchant_ref_id":"ref-1","metadata":{"note":"ラテ","table":"5"},'
            '"payment_method_type":"cash","processing_mode":"manual",'
            '"result":{"cash_received":2000,"change":800},"status":"succeeded"},'
            '"local_id":"0190a000-0000-7000-8000-000000000001","prev_hash":"' + "0" * 64 + '","seq":1}'
        )
        assert sale.item_json == expected
        assert sale.hash == hashlib.sha256(("0" * 64 + expected).encode("utf-8")).hexdigest()
        assert sale.item() == {**json.loads(expected), "hash": sale.hash}

    def test_card_mode_names(self) -> None:
        """A card sale is processing_mode external, payment_method_type card."""
        sale = chain(NewSale("r", 1, "JPY", "card", "failed"), "id", 2, 0, "a" * 64)
        assert (sale.processing_mode, sale.payment_method_type, sale.method, sale.prev_hash) == (
            "external",
            "card",
            "card",
            "a" * 64,
        )

    def test_same_request(self) -> None:
        """A retry matches on amount, currency and method; another amount does not."""
        sale = chain(NewSale("r", 100, "JPY", "cash", "succeeded"), "id", 1, 0, GENESIS_HASH)
        assert same_request(sale, NewSale("r", 100, "JPY", "cash", "succeeded"))
        assert not same_request(sale, NewSale("r", 101, "JPY", "cash", "succeeded"))


class TestMoney:
    def test_formats(self) -> None:
        """Yen have no minor unit; dollars have two; unknown codes fall back to the code."""
        assert format_money(1_234_567, "JPY") == "¥1,234,567"
        assert format_money(1234, "USD") == "$12.34"
        assert format_money(5, "CHF") == "0.05 CHF"
