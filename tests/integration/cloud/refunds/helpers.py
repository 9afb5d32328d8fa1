"""Helpers for refund tests: a paid cash intent, refund bodies, the refund endpoint's path, the sweeper's
retry of pending QR refunds."""

from __future__ import annotations

from typing import Any

from cloud.deps import Deps
from cloud.service.refunds import retry_pending_refunds
from cloud.testing import PgwClient

from ..helpers import create


def refunds_path(intent_id: str) -> str:
    """POST / GET path of an intent's refunds."""
    return f"/v1/payment_intents/{intent_id}/refunds"


async def paid(client: PgwClient, amount: int = 1000, method: str = "cash") -> dict[str, Any]:
    """An intent of `amount` paid in cash (or by card), confirmed over HTTP (asserting 200 succeeded)."""
    intent = await create(client, method, amount=amount)
    body: dict[str, Any] = {"payment_method_type": method}
    if method == "cash":
        body["cash_received"] = amount
    else:
        body["card_result"] = {"status": "approved", "approval_code": "A1", "card_brand": "visa",
                               "card_last_4": "4242", "entry_method": "ic"}  # fmt: skip
    resp = await client.post(f"/v1/payment_intents/{intent['id']}/confirm", body)
    assert resp.status == 200 and resp.body["status"] == "succeeded", resp.body
    confirmed: dict[str, Any] = resp.body
    return confirmed


async def retry_pending(deps: Deps) -> int:
    """The sweeper's pass over pending QR refunds (without its leader lock): how many it finished."""
    return await retry_pending_refunds(new_unit=deps.uow, tenants=deps.tenants, providers=deps.providers,
                                       clock=deps.clock)  # fmt: skip
