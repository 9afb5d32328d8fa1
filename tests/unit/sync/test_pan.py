"""Card-number detection in free-form data (sync/pan.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sync.pan import find_pan, luhn_valid, mask_pans, text_has_pan

VISA = "4111111111111111"
JCB = "3530111333300000"


def _luhn_complete(body: str) -> str:
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


def test_known_test_card_numbers_are_found() -> None:
    for pan in (VISA, JCB, "5555555555554444", "378282246310005", "2223003122003222"):
        assert text_has_pan(pan), pan
        assert text_has_pan(f"approval {pan[:4]} {pan[4:8]} {pan[8:12]} {pan[12:]} ok")
        assert text_has_pan("-".join([pan[:4], pan[4:8], pan[8:]]))


def test_non_card_numbers_are_not_found() -> None:
    assert not text_has_pan("4111111111111112")  # Luhn fails
    assert not text_has_pan("1733151234567")  # epoch milliseconds: no brand prefix
    assert not text_has_pan("A1B2C3")
    assert not text_has_pan("411111111111")  # 12 digits: too short
    assert find_pan({"approval_code": "123456", "ts": 1733151234567, "ok": True, "f": 4.1}) is None


def test_find_pan_reports_the_path_in_nested_data() -> None:
    assert find_pan({"metadata": {"notes": ["x", f"card {VISA}"]}}) == "$.metadata.notes[1]"
    assert find_pan({"n": int(VISA)}) == "$.n"
    assert find_pan({VISA: 1}) == "$.************1111"  # the path never carries the number


def test_too_deep_counts_as_a_finding() -> None:
    deep: object = "x"
    for _ in range(100):
        deep = [deep]
    assert find_pan(deep) is not None


def test_mask_keeps_last_four() -> None:
    assert mask_pans(f"pan={VISA};") == "pan=************1111;"
    assert mask_pans("order 12345") == "order 12345"


@given(st.sampled_from("3456"), st.integers(min_value=12, max_value=18), st.data())
def test_any_luhn_valid_brand_number_is_found_in_text(first: str, length: int, data: st.DataObject) -> None:
    body = first + data.draw(st.text("0123456789", min_size=length - 1, max_size=length - 1))
    pan = _luhn_complete(body)
    prefix = data.draw(st.text("abc xyz:", max_size=5))
    assert text_has_pan(prefix + pan + " end")
    assert pan[-4:] in mask_pans(pan) and pan not in mask_pans(pan)
