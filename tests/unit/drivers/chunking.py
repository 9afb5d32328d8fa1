"""Cutting a byte stream into chunks, for the parsers' "any chunking gives the same result" properties."""

from __future__ import annotations

from itertools import pairwise


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    """`data` cut at the given offsets (clamped, deduplicated, in order); joined, the chunks are `data`."""
    bounds = [0, *sorted({min(c, len(data)) for c in cuts}), len(data)]
    return [data[a:b] for a, b in pairwise(bounds)]
