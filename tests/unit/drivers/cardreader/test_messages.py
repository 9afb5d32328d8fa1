"""Card reader payload messages: validation and the no-card-number rule."""

from __future__ import annotations

import pytest

from drivers.cardreader.messages import InvalidMessage, Result, Sale, dump, load


class TestMessages:
    def test_round_trip(self) -> None:
        """A sale request dumps to compact JSON and loads back equal."""
        sale = Sale(id="R1", amount=1200, currency="JPY")
        assert dump(sale) == b'{"t":"sale","id":"R1","amount":1200,"currency":"JPY"}'
        assert load(dump(sale)) == sale

    def test_result_with_pan_is_refused_without_echo(self) -> None:
        """A result carrying a card number is invalid and the error neither says nor keeps the number."""
        payload = b'{"t":"result","id":"R1","status":"approved","last4":"1111","pan":"4111111111111111"}'
        with pytest.raises(InvalidMessage) as info:
            load(payload)
        assert "4111" not in str(info.value)
        assert info.value.__context__ is None and info.value.__cause__ is None

    @pytest.mark.parametrize("last4", ["123", "12345", "abcd", "4111111111111111"])
    def test_last4_must_be_four_digits(self, last4: str) -> None:
        """last4 is exactly four digits."""
        with pytest.raises(InvalidMessage):
            load(b'{"t":"result","id":"R1","status":"approved","last4":"' + last4.encode() + b'"}')

    @pytest.mark.parametrize(
        "raw", [b"\xff\xfe", b"[]", b'{"t":"nope"}', b"{" * 5000, b'{"t":"sale","id":"x"}']
    )
    def test_garbage_payloads(self, raw: bytes) -> None:
        """Non-JSON, unknown types, deep nesting and missing fields are InvalidMessage."""
        with pytest.raises(InvalidMessage):
            load(raw)

    def test_declined_result(self) -> None:
        """A declined result loads with its reason."""
        msg = load(b'{"t":"result","id":"R1","status":"declined","reason":"limit"}')
        assert isinstance(msg, Result) and msg.reason == "limit"
