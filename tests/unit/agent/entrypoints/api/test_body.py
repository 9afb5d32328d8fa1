"""The JSON body reader of the local web: nesting measured without recursion, strings skipped."""

from __future__ import annotations

import pytest

from agent.entrypoints.api.body import MAX_DEPTH, BadBody, nesting_depth, parse_object


class TestNestingDepth:
    """nesting_depth(raw)."""

    @pytest.mark.parametrize(("raw", "depth"), [
        (b"{}", 1), (b'{"a": [1, {"b": []}]}', 4), (b"1", 0), (b'"[[[["', 0), (b'{"a": "\\"[[["}', 1),
        (b"[" * 30_000 + b"]" * 30_000, 30_000),
    ])
    def test_depth(self, raw: bytes, depth: int) -> None:
        """Arrays and objects count; brackets inside strings, escaped quotes included, do not."""
        assert nesting_depth(raw) == depth


class TestParseObject:
    """parse_object(raw)."""

    def test_limit_is_inclusive(self) -> None:
        """MAX_DEPTH levels parse; one more is json_too_deep."""
        ok = b'{"a":' * (MAX_DEPTH - 1) + b"{}" + b"}" * (MAX_DEPTH - 1)
        assert isinstance(parse_object(ok), dict)
        with pytest.raises(BadBody) as info:
            parse_object(b'{"a":' + ok + b"}")
        assert (info.value.status, info.value.code) == (400, "json_too_deep")

    def test_empty(self) -> None:
        """An empty body is {} only where the route allows it."""
        assert parse_object(b"  ", empty_ok=True) == {}
        with pytest.raises(BadBody):
            parse_object(b"")
