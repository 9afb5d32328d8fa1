"""The nesting bound of every JSON body the API parses (docs/cloud-api.md, "Errors").

A body nested deeper than MAX_DEPTH levels is refused with 400 `nesting_too_deep` naming the field, before a
model or any recursive walk (hashing, float scans, card-number scans) sees it: those could otherwise end in a
RecursionError, a 500. The walks here are iterative.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from cloud.api.errors import ApiError
from sync.pan import mask_pans

MAX_DEPTH = 32  # the body itself is level 1; no request of docs/cloud-api.md needs more than 6
_CONTAINERS = (dict, list)
# A JSON string token, or one structural character; everything else is skipped by the regex engine.
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{},]')

Path = list[str | int]


def _children(value: dict[str, Any] | list[Any]) -> Iterator[tuple[str | int, Any]]:
    return iter(value.items()) if type(value) is dict else enumerate(value)


def deep_path(value: Any, limit: int = MAX_DEPTH) -> Path | None:
    """Keys and indexes down to the first container nested deeper than `limit` levels, else None."""
    if type(value) not in _CONTAINERS:
        return None
    path: Path = []
    stack = [_children(value)]
    while stack:
        for key, child in stack[-1]:
            if type(child) in _CONTAINERS:
                path.append(key)
                if len(stack) >= limit:
                    return path
                stack.append(_children(child))
                break
        else:
            stack.pop()
            if path:
                path.pop()
    return None


def _key(token: bytes | None) -> str:
    try:
        return str(json.loads(token or b'"?"'))
    except ValueError:
        return "?"


def raw_deep_path(body: bytes, limit: int = MAX_DEPTH) -> Path | None:
    """The same as deep_path, read off the raw bytes of (the well-formed prefix of) a body the JSON parser
    refused; stops at the first container past the limit."""
    kinds: list[bytes] = []  # b"{" or b"[" per open container
    index: list[int] = []  # items seen so far, per open list
    path: Path = []
    last: bytes | None = None  # the last string token: a key, when a container opens inside an object
    for match in _TOKENS.finditer(body):
        token = match.group()
        if token[0] == 0x22:
            last = token
        elif token in (b"{", b"["):
            if kinds:
                path.append(index[-1] if kinds[-1] == b"[" else _key(last))
            kinds.append(token)
            index.append(0)
            if len(kinds) > limit:
                return path
        elif token in (b"}", b"]"):
            if kinds:
                kinds.pop()
                index.pop()
            if len(path) > max(len(kinds) - 1, 0):
                path.pop()
        elif kinds and kinds[-1] == b"[":  # a comma between list items
            index[-1] += 1
    return None


def top_field(path: Path) -> Path:
    """The part of a path that names a field of the request (its first key)."""
    return path[:1]


def too_deep(path: Path, field_of: Callable[[Path], Path] = top_field) -> ApiError:
    """400 nesting_too_deep naming the field the path runs through (the schema's names, not free-form keys
    below them); anything in it that looks like a card number is masked."""
    field = mask_pans(".".join(str(p) for p in field_of(path))) or None
    message = f"{field or 'the body'} is nested deeper than {MAX_DEPTH} levels"
    return ApiError(400, "nesting_too_deep", message, param=field)


def load_bounded(body: bytes, field_of: Callable[[Path], Path] = top_field) -> Any:
    """The parsed body (None if it is not JSON: the caller's model then names the error), or 400 when it is
    nested deeper than MAX_DEPTH."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as err:  # not JSON, or deeper than orjson's own limit of 1,024 levels
        # What orjson read before it stopped is well-formed JSON (every string in it closed), so the scan
        # of that prefix is linear in its length.
        path = raw_deep_path(body[: err.pos + 1])
        if path is not None:
            raise too_deep(path, field_of) from None
        return None
    path = deep_path(parsed)
    if path is not None:
        raise too_deep(path, field_of)
    return parsed
