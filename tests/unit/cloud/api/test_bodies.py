"""The nesting bound of JSON bodies (cloud/api/bodies.py): iterative walks, the same path parsed or raw."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from cloud.api.bodies import MAX_DEPTH, deep_path, load_bounded, raw_deep_path
from cloud.api.errors import ApiError

SAMPLE = {"x": [1, 2, {"y": {"z": 1}}, [3, [4]]], "k": {"q": [[["s", {"t": []}]]]}, "e": "]}[{,"}


def deep(depth: int) -> Any:
    """A value `depth` containers deep (built with a loop)."""
    value: Any = 1
    for n in range(depth):
        value = [value] if n % 2 else {"k": value}
    return value


class TestPaths:
    @pytest.mark.parametrize("limit", range(1, 8))
    def test_parsed_and_raw_agree(self, limit: int) -> None:
        """The path to the first too-deep container is the same from the object and from its bytes."""
        assert deep_path(SAMPLE, limit) == raw_deep_path(orjson.dumps(SAMPLE), limit)

    def test_names_keys_and_indexes(self) -> None:
        """Keys of objects and positions in lists, down to the container past the limit."""
        assert deep_path(SAMPLE, 3) == ["x", 2, "y"]
        assert deep_path(SAMPLE, 6) == ["k", "q", 0, 0, 1, "t"]
        assert deep_path(SAMPLE, 7) is None and deep_path(1, 1) is None

    def test_no_recursion_at_any_depth(self) -> None:
        """100,000 levels: both walks answer, neither raises RecursionError."""
        value = deep(100_000)
        assert deep_path(value) == [0, "k"] * (MAX_DEPTH // 2)
        raw = b"[" * 100_000 + b"]" * 100_000
        assert raw_deep_path(raw) == [0] * MAX_DEPTH


class TestLoadBounded:
    def test_within_the_bound_is_parsed(self) -> None:
        """32 levels are fine; the parsed value comes back."""
        assert load_bounded(orjson.dumps(deep(MAX_DEPTH - 1))) == deep(MAX_DEPTH - 1)

    @pytest.mark.parametrize("depth", [MAX_DEPTH, 1_000, 2_000, 100_000])
    def test_past_the_bound_is_400_naming_the_field(self, depth: int) -> None:
        """One level past (the body is level 1), or past the parser's own limit: 400 nesting_too_deep,
        param the top key."""
        body = b'{"amount":1,"metadata":' + b"[" * depth + b"]" * depth + b"}"
        with pytest.raises(ApiError) as refused:
            load_bounded(body)
        found = (refused.value.status, refused.value.code, refused.value.param)
        assert found == (400, "nesting_too_deep", "metadata")

    def test_one_level_less_passes(self) -> None:
        """The body plus 31 levels is exactly the bound."""
        depth = MAX_DEPTH - 1
        assert load_bounded(b'{"m":' + b"[" * depth + b"]" * depth + b"}") is not None

    def test_not_json_is_left_to_the_model(self) -> None:
        """Malformed JSON is not this guard's business: None, so the model answers invalid_json."""
        assert load_bounded(b'{"a": ') is None and load_bounded(b"") is None

    def test_a_card_number_as_a_key_is_masked(self) -> None:
        """The named field is masked when it looks like a card number."""
        with pytest.raises(ApiError) as refused:
            load_bounded(b'{"4111111111111111":' + b"[" * 40 + b"]" * 40 + b"}")
        assert refused.value.param == "************1111"
