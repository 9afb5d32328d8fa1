"""`mpac-pgw request`: one HMAC-signed call from the command line, against the real app on loopback."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from cloud.testing import Tenant
from tests.integration.cloud.conftest import Pgw


async def _request(*argv: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cloud", "request", *argv,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _create_body(ref: str, store: str) -> str:
    body: dict[str, Any] = {"amount": 1200, "currency": "JPY", "merchant_ref_id": ref,
                            "merchant_store_id": store, "payment_method_types": ["qr_mpm"]}
    return json.dumps(body)


class TestRequest:
    async def test_create_then_confirm(self, pgw: Pgw, tenant: Tenant) -> None:
        """A signed create answers 201 with the intent; a signed confirm moves it to requires_action."""
        keys = ("--url", pgw.url, "--api-key", tenant.api_key, "--secret-key", tenant.secret_key)
        code, out, err = await _request(*keys, "POST", "/v1/payment_intents",
                                        _create_body("order-cli-1", tenant.store_code))
        assert (code, err.strip()) == (0, "HTTP 201"), out
        intent = json.loads(out)
        assert intent["merchant_ref_id"] == "order-cli-1" and intent["status"] == "requires_payment_method"
        code, out, err = await _request(*keys, "POST", f"/v1/payment_intents/{intent['id']}/confirm")
        assert code == 0 and json.loads(out)["status"] == "requires_action", err
        code, out, _ = await _request(*keys, "GET", f"/v1/payment_intents/{intent['id']}")
        assert code == 0 and json.loads(out)["id"] == intent["id"]
        assert tenant.secret_key not in out + err

    async def test_a_wrong_secret_is_a_401_and_exit_1(self, pgw: Pgw, tenant: Tenant) -> None:
        """The gateway's refusal is printed as it came (JSON error) and the exit code is 1."""
        code, out, err = await _request("--url", pgw.url, "--api-key", tenant.api_key, "--secret-key",
                                        "sk_wrong_secret", "GET", "/v1/payment_intents")
        assert code == 1 and err.strip() == "HTTP 401" and json.loads(out)["error"]["type"]

    async def test_keys_are_required(self, pgw: Pgw) -> None:
        """Without keys it says how to give them (exit 2) and sends nothing."""
        code, _, err = await _request("--url", pgw.url, "GET", "/v1/payment_intents")
        assert code == 2 and "--api-key" in err
