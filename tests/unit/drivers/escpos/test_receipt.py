"""Receipt builder: the printed receipt (parsed back from the bytes) shows the sale correctly."""

from __future__ import annotations

from drivers.escpos import encode as e
from drivers.escpos.receipt import ReceiptLine, SaleReceipt, build_receipt, money, two_columns
from drivers.simulators.escpos_parse import EscPosParser, Qr, TextLine

# 2025-11-25 10:30 JST
CREATED = 1764034200000


def _sale(**over: object) -> SaleReceipt:
    base: dict[str, object] = {
        "receipt_id": "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
        "receipt_number": 42,
        "store_name": "テスト商店",
        "created_at_ms": CREATED,
        "currency": "JPY",
        "total": 1320,
        "tax": 120,
        "payment_method": "cash",
        "lines": (ReceiptLine("おにぎり 鮭", 2, 400), ReceiptLine("ｺｰﾋｰ", 1, 920)),
        "cash_received": 2000,
        "change": 680,
    }
    base.update(over)
    return SaleReceipt(**base)  # type: ignore[arg-type]


def _printed(data: bytes) -> EscPosParser:
    parser = EscPosParser()
    parser.feed(data)
    return parser


class TestBuildReceipt:
    def test_cash_receipt_lines(self) -> None:
        """A cash receipt shows header, items, total, tax, tendered and change, and is cut once."""
        paper = _printed(build_receipt(_sale())).paper
        (text,) = paper.receipts()
        lines = [line.rstrip() for line in text.splitlines()]
        assert lines[0] == "テスト商店"
        assert "領収書" in lines
        assert "2025-11-25 10:30" in lines[2] and lines[2].endswith("No.000042")
        assert lines[4].startswith("おにぎり 鮭") and lines[4].endswith("x2 ¥400")
        assert lines[5].startswith("ｺｰﾋｰ") and lines[5].endswith("¥920")
        for label, value in (
            ("合計", "¥1,320"),
            ("(内消費税等)", "¥120"),
            ("お支払方法", "現金"),
            ("お預り", "¥2,000"),
            ("お釣り", "¥680"),
        ):
            assert any(ln.startswith(label) and ln.endswith(value) for ln in lines), label

    def test_every_line_fits_the_paper(self) -> None:
        """No printed line is wider than the configured columns, long names included."""
        sale = _sale(lines=(ReceiptLine("とても長い商品名" * 5, 3, 123456),))
        for width in (32, 42, 48):
            paper = _printed(build_receipt(sale, width=width)).paper
            for el in paper.elements:
                if isinstance(el, TextLine):
                    assert e.display_width(el.text) * el.width <= width, el.text

    def test_card_receipt_shows_last4_and_approval_only(self) -> None:
        """A card receipt shows brand, ****last4 and approval code."""
        sale = _sale(
            payment_method="card",
            cash_received=None,
            change=None,
            card_brand="VISA",
            card_last_4="4242",
            approval_code="004211",
        )
        text = _printed(build_receipt(sale)).paper.text()
        assert "VISA ****4242" in text and "004211" in text and "お釣り" not in text

    def test_qr_carries_url_or_receipt_id(self) -> None:
        """The QR holds the receipt URL when given, else the receipt id."""
        with_url = _printed(build_receipt(_sale(qr_url="https://r.example/r/42"))).paper
        without = _printed(build_receipt(_sale())).paper
        assert [el.data for el in with_url.elements if isinstance(el, Qr)] == ["https://r.example/r/42"]
        assert [el.data for el in without.elements if isinstance(el, Qr)] == [_sale().receipt_id]

    def test_drawer_kick_optional(self) -> None:
        """The drawer is kicked only when asked."""
        assert _printed(build_receipt(_sale(), kick_drawer=True)).paper.drawer_kicks == 1
        assert _printed(build_receipt(_sale())).paper.drawer_kicks == 0

    def test_parses_without_unknown_commands(self) -> None:
        """Every command the builder emits is one the printer model understands."""
        assert _printed(build_receipt(_sale(qr_url="u"))).paper.unknown_commands == 0


class TestMoney:
    def test_formats(self) -> None:
        """JPY as ¥ with thousands separators; two-decimal currencies from minor units."""
        assert money(1234567, "JPY") == "¥1,234,567"
        assert money(123456, "USD") == "USD 1,234.56"
        assert money(-5, "EUR") == "EUR -0.05"

    def test_two_columns(self) -> None:
        """Right text is flush right, counting Kanji as two columns."""
        line = two_columns("合計", "¥100", 12)
        assert e.display_width(line) == 12 and line.endswith("¥100")
