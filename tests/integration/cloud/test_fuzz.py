"""Seeded random bodies (replayable) against create and confirm: never a 5xx, always the JSON of
docs/cloud-api.md."""

from __future__ import annotations

import json
import random
from typing import Any

from cloud.testing import PgwClient, db_snapshot

from .conftest import Pgw
from .helpers import create, intent_body

FIELDS = [
    *(
        "amount",
        "currency",
        "payment_method_types",
        "payment_method_type",
        "processing_mode",
        "merchant_ref_id",
    ),
    *(
        "merchant_store_id",
        "metadata",
        "expires_in_minutes",
        "capture_method",
        "customer_code",
        "card_result",
    ),
    *("cash_received", "payment_token", "x"),
]


def value(rng: random.Random, depth: int = 0) -> Any:
    """A random JSON value, nesting at most 3 deep."""
    kinds = ["int", "float", "str", "bool", "null"] + (["list", "dict"] if depth < 3 else [])
    kind = rng.choice(kinds)
    if kind == "int":
        return rng.choice([0, -1, 1, 1000, 2**63, -(2**70), rng.randint(-(10**6), 10**6)])
    if kind == "float":
        return rng.choice([0.5, -0.0, 1e308, 1000.0])
    if kind == "str":
        return rng.choice(["", "JPY", "qr_mpm", "cash", "\u0000", "x" * 300, "tok_abc", "ｱ", "\ud7ff"])
    if kind == "list":
        return [value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if kind == "dict":
        return {rng.choice(FIELDS): value(rng, depth + 1) for _ in range(rng.randint(0, 3))}
    return rng.choice([True, False, None])


def mutate(rng: random.Random, base: dict[str, Any]) -> dict[str, Any]:
    """The base body with a few fields replaced, dropped or added at random."""
    body = dict(base)
    for _ in range(rng.randint(1, 3)):
        field = rng.choice(FIELDS)
        if rng.random() < 0.2:
            body.pop(field, None)
        else:
            body[field] = value(rng)
    return body


async def test_random_create_bodies_never_fail_the_server(pgw: Pgw, client: PgwClient) -> None:
    """200 mutated create bodies: every answer is < 500 with the error envelope or a valid 201."""
    rng = random.Random(20261125)
    for _ in range(200):
        body = mutate(rng, intent_body())
        resp = await client.post("/v1/payment_intents", raw=json.dumps(body).encode())
        assert resp.status < 500, (body, resp.body)
        assert resp.status == 201 or set(resp.body["error"]) == {"type", "code", "message", "param"}, body


async def test_random_confirm_bodies_never_fail_or_leak_state(pgw: Pgw, client: PgwClient) -> None:
    """Mutated confirm bodies on a cash intent: < 500 always; a refused one changes nothing."""
    rng = random.Random(7)
    for _ in range(100):
        pi = await create(client, "cash")
        body = mutate(rng, {"payment_token": pi["payment_token"], "cash_received": 1000})
        before = db_snapshot(pgw.db_path)
        resp = await client.post(f"/v1/payment_intents/{pi['id']}/confirm", raw=json.dumps(body).encode(),
                                 signed=False)  # fmt: skip
        assert resp.status < 500, (body, resp.body)
        if resp.status != 200:
            assert db_snapshot(pgw.db_path) == before, body
