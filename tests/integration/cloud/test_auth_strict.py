"""The Authorization header over HTTP: exactly one, in exactly one form
(docs/cloud-api.md#authentication-hmac-sha256)."""

from __future__ import annotations

import json

import pytest
from multidict import CIMultiDict

from cloud.testing import PgwClient, db_snapshot
from sync.signing import sign

from .conftest import API_KEY, SECRET_KEY, Pgw
from .helpers import intent_body

PATH = "/v1/payment_intents"


async def post_with(pgw: Pgw, raw: bytes, authorizations: list[str]) -> tuple[int, str]:
    """POST with the given Authorization headers, in order, each as its own header line."""
    headers = CIMultiDict([("Content-Type", "application/json")])
    for value in authorizations:
        headers.add("Authorization", value)
    async with pgw.session.post(pgw.url + PATH, data=raw, headers=headers) as resp:
        body = await resp.json()
        return resp.status, body["error"]["code"] if resp.status >= 400 else "ok"


class TestDuplicateHeaders:
    @pytest.mark.parametrize("order", ["good-bad", "good-good", "bad-good"])
    async def test_two_authorization_headers_are_401(self, pgw: Pgw, client: PgwClient, order: str) -> None:
        """Two Authorization headers are refused whatever they hold; none is picked, nothing is created."""
        raw = json.dumps(intent_body("cash")).encode()
        good = client.sign("POST", PATH, raw)
        bad = good[:-4] + "0000"
        pair = {"good-bad": [good, bad], "good-good": [good, good], "bad-good": [bad, good]}[order]
        before = db_snapshot(pgw.db_path)
        assert await post_with(pgw, raw, pair) == (401, "invalid_authorization")
        assert db_snapshot(pgw.db_path) == before
        assert await post_with(pgw, raw, [good]) == (201, "ok")  # the signature was not spent


class TestStrictForm:
    @pytest.mark.parametrize(
        "shape",
        ["zero-padded timestamp", "upper-case hex", "extra field", "two spaces", "tab", "lower-case scheme",
         "trailing field separator", "plus sign"],
    )  # fmt: skip
    async def test_variants_of_a_valid_header_are_401(self, pgw: Pgw, client: PgwClient, shape: str) -> None:
        """Each variant carries a signature that would verify, yet is refused as invalid_authorization."""
        raw = json.dumps(intent_body("cash")).encode()
        ts = int(pgw.clock())
        sig = sign(SECRET_KEY, "POST", PATH, ts, raw)
        value = {
            "zero-padded timestamp": f"HMAC-SHA256 {API_KEY}:0{ts}:{sig}",
            "upper-case hex": f"HMAC-SHA256 {API_KEY}:{ts}:{sig.upper()}",
            "extra field": f"HMAC-SHA256 {API_KEY}:{ts}:{sig}:extra",
            "two spaces": f"HMAC-SHA256  {API_KEY}:{ts}:{sig}",
            "tab": f"HMAC-SHA256\t{API_KEY}:{ts}:{sig}",
            "lower-case scheme": f"hmac-sha256 {API_KEY}:{ts}:{sig}",
            "trailing field separator": f"HMAC-SHA256 {API_KEY}:{ts}:{sig}:",
            "plus sign": f"HMAC-SHA256 {API_KEY}:+{ts}:{sig}",
        }[shape]
        before = db_snapshot(pgw.db_path)
        assert await post_with(pgw, raw, [value]) == (401, "invalid_authorization")
        assert db_snapshot(pgw.db_path) == before
        assert await post_with(pgw, raw, [f"HMAC-SHA256 {API_KEY}:{ts}:{sig}"]) == (201, "ok")
