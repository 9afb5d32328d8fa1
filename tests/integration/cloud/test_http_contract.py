"""HTTP details the documents promise: the Idempotency-Key rule /openapi.json publishes is the one enforced,
and a 405 says which methods the route has (docs/cloud-api.md#errors)."""

from __future__ import annotations

import json
import re

import pytest
from multidict import CIMultiDict

from cloud.api.openapi import IDEMPOTENCY
from cloud.testing import PgwClient

from .conftest import Pgw
from .helpers import intent_body

PATH = "/v1/payment_intents"


def published(key: str) -> bool:
    """Whether the key matches the schema in /openapi.json."""
    schema = IDEMPOTENCY["schema"]
    assert isinstance(schema, dict)
    in_length = schema["minLength"] <= len(key) <= schema["maxLength"]
    return in_length and re.fullmatch(schema["pattern"], key) is not None


class TestIdempotencyKeyRule:
    @pytest.mark.parametrize(
        "key", ["a", "k" * 255, "k" * 256, "with space", "~!@#$%^&*()", "é-key", "tab\there"]
    )
    async def test_the_published_rule_is_the_enforced_one(
        self, pgw: Pgw, client: PgwClient, key: str
    ) -> None:
        """A key the schema allows is accepted (201); any other is 400 invalid_idempotency_key."""
        headers = CIMultiDict([("Idempotency-Key", key)])
        raw = json.dumps(intent_body("cash")).encode()
        headers["Authorization"] = client.sign("POST", PATH, raw)
        headers["Content-Type"] = "application/json"
        async with pgw.session.post(pgw.url + PATH, data=raw, headers=headers) as resp:
            body = await resp.json()
        if published(key):
            assert resp.status == 201, body
        else:
            assert (resp.status, body["error"]["code"]) == (400, "invalid_idempotency_key")

    async def test_two_keys_are_400(self, pgw: Pgw, client: PgwClient) -> None:
        """Two Idempotency-Key headers are refused, not one of them picked."""
        raw = json.dumps(intent_body("cash")).encode()
        headers = CIMultiDict([("Idempotency-Key", "a"), ("Idempotency-Key", "b"),
                               ("Authorization", client.sign("POST", PATH, raw))])  # fmt: skip
        async with pgw.session.post(pgw.url + PATH, data=raw, headers=headers) as resp:
            assert (resp.status, (await resp.json())["error"]["code"]) == (400, "invalid_idempotency_key")


class TestMethodNotAllowed:
    @pytest.mark.parametrize(
        ("method", "path", "allowed"),
        [("POST", "/health", {"GET", "HEAD"}), ("GET", "/v1/sync/batches", {"POST"}),
         ("DELETE", PATH, {"GET", "HEAD", "POST"}),
         ("PUT", f"{PATH}/pi_01ARZ3NDEKTSV4RRFFQ69G5FAV/confirm", {"POST"})],
    )  # fmt: skip
    async def test_405_lists_the_allowed_methods(
        self, pgw: Pgw, method: str, path: str, allowed: set[str]
    ) -> None:
        """The JSON 405 keeps aiohttp's Allow header."""
        async with pgw.session.request(method, pgw.url + path) as resp:
            body = await resp.json()
            assert (resp.status, body["error"]["code"]) == (405, "method_not_allowed")
            assert {m.strip() for m in resp.headers["Allow"].split(",")} == allowed
