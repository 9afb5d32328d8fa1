"""Speed tricks of the sync intake, kept out of the service and the domain (each says why it exists).

A 500-item batch is one synchronous walk on the event loop; these make its hot spots cheap without changing
a single byte the intake answers or stores (tests/unit/cloud/infrastructure/test_speed.py holds them to it).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

import orjson
from ulid import ULID

from sync.models import SyncItem, hash_matches

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


# Why: python-ulid costs ~8 µs an id and a batch mints 2,000 (16 ms of a ~160 ms batch).
@functools.cache
def _suffixes() -> tuple[str, ...]:
    """The 32,768 three-character Crockford base32 numbers, in order (built once, on first use)."""
    return tuple(a + b + c for a in _CROCKFORD for b in _CROCKFORD for c in _CROCKFORD)


def fresh_ids(n: int, now: float) -> list[str]:
    """n distinct ULIDs of this millisecond, ascending in the order they are handed out (n ≤ 32,768).

    A batch mints 2,000 ids: python-ulid spends ~8 µs on each, base32 of fresh random bytes ~1.3 µs. So, as
    ULID's monotonic mode does within one millisecond, the ids share one fresh random part and count up in
    its low 15 bits: 65 random bits per batch keep batches apart, the counter keeps a batch's ids apart, and
    B-tree inserts append in item order.
    """
    if not 0 <= n <= 32_768:
        raise ValueError("at most 32,768 ids per call")
    # 10 timestamp characters, then 13 random ones (65 bits) drawn here: python-ulid counts up within a
    # millisecond, so its random part would repeat between two batches of the same millisecond.
    head = str(ULID.from_timestamp(now))[:10] + "".join(_CROCKFORD[b & 31] for b in os.urandom(13))
    return [head + suffix for suffix in _suffixes()[:n]]


# Why: the stdlib canonical JSON costs ~3x orjson's per item; orjson is exact unless a float is present.
_SCALARS = frozenset({str, int, bool, type(None)})


def floatless(value: Any) -> bool:
    """True when no float occurs anywhere in the value (dicts and lists walked with a stack, not recursion:
    no nesting depth can raise RecursionError here)."""
    stack = [value]
    while stack:
        node = stack.pop()
        kind = type(node)
        if kind is dict:
            node = node.values()
        elif kind is not list:
            if kind is float:
                return False
            continue
        kinds = set(map(type, node))
        if kinds <= _SCALARS:  # the common flat case, decided without a Python-level loop
            continue
        if float in kinds:
            return False
        stack.extend(v for v in node if type(v) in (dict, list))
    return True


def item_hash_ok(raw: Mapping[str, Any], item: SyncItem) -> bool:
    """Does the raw item's `hash` equal sha256(prev_hash + canonical JSON of the rest)?

    sync.wire.canonical_json (stdlib json) is the definition. orjson with OPT_SORT_KEYS writes the same bytes
    for str, 64-bit int, bool, None, list and str-keyed dict (tests/unit/cloud/infrastructure/test_speed.py
    checks every Unicode scalar value and key order) but formats some floats differently (1e-07 vs 1e-7).
    `item` is `raw` validated (strict, extra keys forbidden): only result and metadata are free-form, so only
    they are walked for floats; with one, or an int past 64 bits, the stdlib definition decides.
    """
    if not (floatless(item.intent.result) and floatless(item.intent.metadata)):
        return hash_matches(raw)
    body = {k: v for k, v in raw.items() if k != "hash"}
    try:
        canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # e.g. an int past 64 bits: the stdlib definition handles it
        return hash_matches(raw)
    return hashlib.sha256(item.prev_hash.encode("ascii") + canonical).hexdigest() == item.hash


# Why: the walk keeps ~30 live containers per item, so the GC passes it triggers only rescan them (~15%).
@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off for one batch's synchronous walk (no await inside, so no other
    task runs meanwhile): the walk allocates ~30 containers per item and keeps them all until the commit,
    so the collections it would trigger only rescan live objects (~15% of the walk). Back on after."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()
