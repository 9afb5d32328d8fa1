"""Verifying a PayPay-style transaction webhook (docs/providers.md#webhooks).

PayPay's published documents protect webhooks by source-address allowlisting rather than a signature; the
gateway wants a check it can run anywhere, so the simulator signs each notification with the same OPA-Auth
scheme as API calls (the store's api_key and api_secret, the webhook path as the resource) and this module
verifies it. The inbound route that will call it is not built yet.
"""

from __future__ import annotations

import hmac

from cloud.domain.errors import ValidationFailed
from cloud.domain.tenants import StoreProviderConfig
from cloud.infrastructure.providers.paypay import auth
from cloud.infrastructure.providers.paypay.wire import WebhookEvent, WireError, parse_config, parse_webhook

WINDOW_S = 300.0


def verify_webhook(
    config: StoreProviderConfig,
    *,
    authorization: str | None,
    resource: str,
    body: bytes,
    content_type: str | None,
    now: float,
    window_s: float = WINDOW_S,
) -> bool:
    """Whether the notification was signed with this store's PayPay key, over this body, recently."""
    try:
        cfg = parse_config(config.credentials)
    except ValidationFailed:
        return False
    parsed = auth.parse(authorization or "")
    if parsed is None or abs(now - parsed.epoch) > window_s:
        return False
    given_credential = parsed.api_key.encode("utf-8", "replace")
    store_credential = cfg.api_key.encode("utf-8")
    same_key = hmac.compare_digest(given_credential, store_credential)
    valid = auth.verify(parsed, cfg.api_secret, method="POST", resource=resource, body=body,
                        content_type=content_type)  # fmt: skip
    return same_key and valid


def read_webhook(config: StoreProviderConfig, *, authorization: str | None, resource: str, body: bytes,
                 content_type: str | None, now: float) -> WebhookEvent | None:  # fmt: skip
    """The verified event, or None when the signature or the body does not hold."""
    if not verify_webhook(config, authorization=authorization, resource=resource, body=body,
                          content_type=content_type, now=now):  # fmt: skip
        return None
    try:
        return parse_webhook(body)
    except WireError:
        return None
