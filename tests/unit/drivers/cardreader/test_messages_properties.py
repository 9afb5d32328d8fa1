"""Property tests of the card reader payloads (docs/card-reader-protocol.md#payload): any bytes either load
as a message that round-trips exactly, or raise InvalidMessage without echoing them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.cardreader.messages import (
    AnyMessage,
    Cancel,
    Cancelled,
    InvalidMessage,
    Ping,
    Presented,
    Result,
    Sale,
    dump,
    load,
)

JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
FIELDS = ["t", "id", "amount", "currency", "entry", "status", "approval_code", "brand", "last4", "reason",
          "pan"]
MESSAGE_TYPES = ["sale", "cancel", "ping", "presented", "result", "cancelled"]
ID = st.text(min_size=1, max_size=64)
TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=16)
ENTRY = st.sampled_from(["chip", "contactless", "swipe", "manual"])
RESULTS = st.builds(
    Result, id=ID, status=st.sampled_from(["approved", "declined"]),
    approval_code=st.none() | st.from_regex(r"\A[A-Z0-9]{1,8}\Z"), brand=st.none() | TEXT,
    last4=st.none() | st.from_regex(r"\A[0-9]{4}\Z"), entry=st.none() | ENTRY, reason=st.none() | TEXT,
)
MESSAGES: st.SearchStrategy[AnyMessage] = st.one_of(
    RESULTS,
    st.builds(Sale, id=ID, amount=st.integers(1, 10**12), currency=st.from_regex(r"\A[A-Z]{3}\Z")),
    st.builds(Cancel, id=ID),
    st.just(Ping()),
    st.builds(Presented, id=ID, entry=ENTRY),
    st.builds(Cancelled, id=ID),
)


def _check(payload: bytes) -> None:
    """load() gives a message that dumps and loads back equal, or InvalidMessage naming only the error."""
    try:
        msg = load(payload)
    except InvalidMessage as err:
        assert str(err).startswith("invalid card reader message (") and err.__context__ is None
        if len(payload) >= 8:
            assert payload.decode("utf-8", "replace") not in str(err)
        return
    assert load(dump(msg)) == msg


class TestLoadAnything:
    @settings(max_examples=500)
    @given(st.binary(max_size=2048))
    def test_arbitrary_bytes(self, payload: bytes) -> None:
        """Random bytes (mostly invalid UTF-8 or JSON) never raise anything but InvalidMessage."""
        _check(payload)

    @settings(max_examples=500)
    @given(JSON)
    def test_arbitrary_json(self, value: Any) -> None:
        """Any JSON document, of any shape, never raises anything but InvalidMessage."""
        _check(json.dumps(value).encode())

    @settings(max_examples=1000)
    @given(st.sampled_from(MESSAGE_TYPES),
           st.dictionaries(st.sampled_from(FIELDS), JSON | st.text(max_size=70), max_size=8))
    def test_near_valid_objects(self, kind: str, fields: dict[str, Any]) -> None:
        """Objects with the protocol's field names and arbitrary values load exactly or are refused."""
        _check(json.dumps({"t": kind, **fields}).encode())

    @pytest.mark.parametrize("raw", [
        b'{"t":"sale","id":"x","currency":"JPY","amount":' + b"1" * 5000 + b"}",  # int() digit limit
        b'{"t":"sale","id":"x","currency":"JPY","amount":true}',  # a bool is not an amount
        b'{"t":"sale","id":"x","currency":"JPY","amount":"12"}',  # nor is a string
        b'{"t":"result","id":"R1","status":"declined","brand":"VISA","brand":"X"}',  # duplicate key
        b'{"t":"result","id":"R1","status":"declined","brand":"VI\\u001bSA"}',  # a control character
        b'{"t":"result","id":"R1","status":"declined","reason":"no\\u0000"}',
    ])
    def test_ambiguous_or_lax_payloads_are_refused(self, raw: bytes) -> None:
        """What the fuzzing found: huge integers crashed load(); lax types, duplicate keys and control
        characters in reader text were accepted. Each is now InvalidMessage."""
        with pytest.raises(InvalidMessage):
            load(raw)


class TestRoundTrip:
    @settings(max_examples=500)
    @given(MESSAGES)
    def test_every_valid_message_round_trips(self, msg: AnyMessage) -> None:
        """dump then load gives the same message, for every message type and field value allowed."""
        assert load(dump(msg)) == msg

    @given(RESULTS, st.text(max_size=19))
    def test_a_pan_field_is_always_refused(self, msg: Result, pan: str) -> None:
        """A result with any extra card-number field is refused, whatever its value."""
        body = json.loads(dump(msg)) | {"pan": pan}
        with pytest.raises(InvalidMessage):
            load(json.dumps(body).encode())
