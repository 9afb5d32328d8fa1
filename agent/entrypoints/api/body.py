"""The one reader of JSON request bodies of the local web: bounded in size and nesting (docs/local-web.md).

The app refuses bodies over its `client_max_size` with 413. Nesting is checked before `json.loads`, which
recurses once per level and would end in a RecursionError (a 500) on `[[[[…` thirty thousand deep: nothing the
agent takes is deeper than a few levels, so anything past MAX_DEPTH is 400 `json_too_deep`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from agent.domain.errors import AgentError

MAX_DEPTH = 32
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class BadBody(AgentError):
    """A request body that is not one JSON object the agent can read (400)."""

    status = 400


def nesting_depth(raw: bytes) -> int:
    """How deep arrays and objects nest in `raw` (strings skipped: a bracket inside one does not count)."""
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for byte in brackets:
        depth += 1 if byte in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


def parse_object(raw: bytes, *, empty_ok: bool = False) -> dict[str, Any]:
    """The JSON object in `raw` ({} for an empty body when `empty_ok`); BadBody when it is anything else."""
    if empty_ok and not raw.strip():
        return {}
    if nesting_depth(raw) > MAX_DEPTH:
        raise BadBody("json_too_deep", f"The request body nests deeper than {MAX_DEPTH} levels.")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: a recursion limit set below MAX_DEPTH
        raise BadBody("invalid_json", "The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise BadBody("invalid_json", "The request body must be a JSON object.")
    return data


async def json_object(request: web.Request, *, empty_ok: bool = False) -> dict[str, Any]:
    """Read the body of `request` (413 past the app's size limit) and parse it with `parse_object`."""
    return parse_object(await request.read(), empty_ok=empty_ok)
