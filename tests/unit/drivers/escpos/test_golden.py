"""Golden bytes: the encoder and receipt builder output stays byte-identical to the captured fixture.

The fixture only says "unchanged"; what is right is checked against hand-written bytes in
test_reference_bytes.py.

tests/fixtures/drivers/escpos_golden.json was written by
`.venv/bin/python -m tests.unit.drivers.escpos.test_golden --write` from the code before the speed
work; regenerate only for an intended output change.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from itertools import chain, cycle
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.escpos import encode as e
from drivers.escpos.receipt import ENGLISH, JAPANESE, ReceiptLine, SaleReceipt, build_receipt, two_columns

FIXTURE = Path(__file__).parents[3] / "fixtures" / "drivers" / "escpos_golden.json"
RID = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"

# Text that exercises every branch of text()/display_width(): ASCII, the Japan-set swaps, NBSP, kana of both
# widths, Kanji, unencodable and private-use characters, controls, FS &/FS . lookalikes, newlines, empties.
TEXTS = [
    "", "Hello", "a\\b~c", "¥1,234", "‾over",
    "a\u00a0b", "ｺｰﾋｰ ｶﾞﾑ", "カード", "領収書", "おにぎり 鮭 3",
    "合計      ¥1,320", "mix ｶﾅ and 漢字 and ASCII", "emoji 😀 here",
    "\uf8f0\uf8f1\uf8f2\uf8f3", "\x1b@\x1dV\x00",
    "tab\there\r\n", "\x1c&fake\x1c.", "line1\nline2\n", "\n", "¥\\~‾",
    "ｱ漢ｱ漢", "€ £ © ®", "\x7f\x85\x9f", "Ａ全角ＡＳＣＩＩ", "①②③",
    "髙﨑", "～－", "¥" * 3 + "x", "漢" * 30, "a" * 100,
    "\u3000", "\u00a5\u00a0\u203e",
]


def _sale(japanese: bool, n: int, i: int = 0, **over: object) -> SaleReceipt:
    names = [f"おにぎり 鮭 {k}" if japanese else f"Onigiri salmon {k}" for k in range(n)]
    lines = tuple(ReceiptLine(name, 1 + k % 3, 150 * (1 + k % 7)) for k, name in enumerate(names))
    total = sum(line.amount for line in lines)
    base: dict[str, object] = {
        "receipt_id": f"{RID[:-4]}{i:04d}", "receipt_number": 1234 + i,
        "store_name": "テスト商店" if japanese else "MPAC Store", "created_at_ms": 1764034200000 + i * 61_000,
        "currency": "JPY", "total": total, "tax": total // 11, "payment_method": "cash", "lines": lines,
        "cash_received": total + 1000, "change": 1000, "qr_url": f"https://r.example/r/{RID}",
    }
    base.update(over)
    return SaleReceipt(**base)  # type: ignore[arg-type]


_CARD = {"payment_method": "card", "cash_received": None, "change": None, "card_brand": "VISA",
         "card_last_4": "4242", "approval_code": "004211"}
_ODD_NAMES = tuple(ReceiptLine(t or "-", 1 + k % 2, 100 * k) for k, t in enumerate(TEXTS))

RECEIPTS: dict[str, Callable[[], bytes]] = {
    "english_20": lambda: build_receipt(_sale(False, 20), labels=ENGLISH),
    "japanese_20": lambda: build_receipt(_sale(True, 20)),
    "english_20_id7": lambda: build_receipt(_sale(False, 20, 7), labels=ENGLISH),
    "japanese_card_kick": lambda: build_receipt(_sale(True, 3, 2, **_CARD), kick_drawer=True),
    "english_card_usd": lambda: build_receipt(_sale(False, 4, 3, currency="USD", **_CARD), labels=ENGLISH),
    "odd_names_w32": lambda: build_receipt(_sale(True, 0, 4, lines=_ODD_NAMES, qr_url=None), width=32),
    "odd_names_w48_en": lambda: build_receipt(_sale(False, 0, 5, lines=_ODD_NAMES), width=48, labels=ENGLISH),
    "long_store": lambda: build_receipt(_sale(True, 2, 6, store_name="とても長い店名の商店" * 3,
                                              payment_method="qr_mpm"), width=42, labels=JAPANESE),
    "unknown_method_krw": lambda: build_receipt(_sale(False, 2, 8, currency="KRW", payment_method="points")),
}


def capture() -> dict[str, object]:
    """Current output of every golden case (hex for bytes)."""
    return {
        "receipts": {name: fn().hex() for name, fn in RECEIPTS.items()},
        "text": [e.text(t).hex() for t in TEXTS],
        "textln": [e.textln(t).hex() for t in TEXTS],
        "display_width": [e.display_width(t) for t in TEXTS],
        "two_columns": [two_columns(t, "¥1,000", w) for t in TEXTS for w in (12, 32, 42)],
    }


@pytest.fixture(scope="module")
def golden() -> dict[str, object]:
    data: dict[str, object] = json.loads(FIXTURE.read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize("name", sorted(RECEIPTS))
def test_receipt_bytes_match_golden(golden: dict[str, dict[str, str]], name: str) -> None:
    """Each golden receipt encodes to exactly the bytes captured before the speed work."""
    assert RECEIPTS[name]() == bytes.fromhex(golden["receipts"][name])


@pytest.mark.parametrize("key", ["text", "textln", "display_width", "two_columns"])
def test_text_helpers_match_golden(golden: dict[str, object], key: str) -> None:
    """text/textln bytes, display widths and two-column layout equal the captured values for every sample."""
    assert capture()[key] == golden[key]


if __name__ == "__main__":
    if "--write" not in sys.argv:
        raise SystemExit("pass --write to overwrite the golden fixture")
    FIXTURE.write_text(json.dumps(capture(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


# The text encoder exactly as it was before the speed work, kept as the reference model for random input.
# Its character classes are written here from the rules in docs/devices.md, not imported from the encoder,
# so a change to the encoder's own classes shows up as a difference.
_REF_DOUBLE_SPLIT = re.compile("([^\n\x20-\x7e\uff61-\uff9f]+)")
# Dropped from text: C0 controls but LF, DEL, C1 controls.
_REF_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")
# Private-use characters cp932 maps to stray single bytes (0xA0, 0xFD-0xFF): printed as a full-width ？.
_REF_STRAY = re.compile(r"[\uf8f0-\uf8f3]")
# Single-width on paper: ASCII but 0x5C/0x7E (full-width after the Japan-set swap), the yen sign and overline
# printed through those code points, NBSP (a space), half-width katakana, LF. Everything else is double.
_REF_DOUBLE_CHAR = re.compile(r"[^\x20-\x5b\x5d-\x7d\u00a0\u00a5\u203e\uff61-\uff9f\n]")


def _reference_text(value: str) -> bytes:
    if value.isascii() and value.isprintable() and "\\" not in value and "~" not in value:
        return value.encode("ascii")
    if not value.isprintable() and not value.replace("\n", "").isprintable():
        value = _REF_CONTROL.sub("", value)
    for old, new in (("\\", "\uff3c"), ("~", "\uff5e"), ("\u00a5", "\\"), ("\u203e", "~"), ("\u00a0", " ")):
        value = value.replace(old, new)
    value = value if value.isascii() else _REF_STRAY.sub("？", value)
    if value.isascii():
        return value.encode("ascii")
    runs = _REF_DOUBLE_SPLIT.split(value)
    joined = "".join(chain.from_iterable(zip(runs, cycle(("\x1c&", "\x1c.")))))[:-2]
    try:
        return joined.encode("cp932")
    except UnicodeEncodeError:
        return "".join(ch if _ok(ch) else "？" for ch in joined).encode("cp932")


def _ok(ch: str) -> bool:
    try:
        ch.encode("cp932")
    except UnicodeEncodeError:
        return False
    return True


_ALPHABET = st.sampled_from(
    list("aZ9 \\~\n\t\x1b\x1c&.¥‾\u00a0ｱｰﾟ漢字カード全ＡＳ①髙﨑😀€\uf8f0\uf8f1\uf8f2\uf8f3\x7f\x85\u3000")
)


@settings(max_examples=400, deadline=None)
@given(st.text(_ALPHABET, max_size=40) | st.text(max_size=40))
def test_text_equals_reference_encoder(value: str) -> None:
    """text() gives the same bytes as the pre-speed-work encoder for any string."""
    assert e.text(value) == _reference_text(value)


def _reference_width(value: str) -> int:
    """The general rule display_width's fast paths shortcut: 1 column per character, 2 in Kanji mode."""
    value = _REF_CONTROL.sub("", value)
    return len(value) + len(_REF_DOUBLE_CHAR.findall(value))


def test_display_width_fast_paths_equal_the_general_rule_for_every_bmp_character() -> None:
    """For each BMP character alone, after ASCII and after a Kanji, display_width equals the general rule."""
    for code in range(0x10000):
        ch = chr(code)
        for value in (ch, "a" + ch, "漢" + ch):
            assert e.display_width(value) == _reference_width(value), hex(code)
