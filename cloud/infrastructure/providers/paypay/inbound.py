"""PayPay's inbound webhooks for `POST /v1/webhooks/paypay`: the notification names our intent as
`merchant_order_id`, and `read_webhook` checks its OPA-Auth signature (docs/providers.md#webhooks)."""

from __future__ import annotations

import json

from cloud.domain.provider_ports import InboundWebhook, ProviderEvent, ProviderResult
from cloud.domain.tenants import StoreProviderConfig
from cloud.infrastructure.providers.paypay.webhook import read_webhook


class PayPayWebhooks:
    """The WebhookSource of the paypay provider."""

    def intent_of(self, body: bytes) -> str | None:
        """The `merchant_order_id` the body names."""
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError):
            return None
        found = doc.get("merchant_order_id") if isinstance(doc, dict) else None
        return found if isinstance(found, str) else None

    def read(
        self, webhook: InboundWebhook, config: StoreProviderConfig | None, now: float
    ) -> ProviderEvent | None:
        """The event if the store's PayPay key signed it, over this path and body, within 300 s."""
        if config is None:
            return None
        headers = webhook.headers
        event = read_webhook(config, authorization=headers.get("Authorization"), resource=webhook.path,
                             body=webhook.body, content_type=headers.get("Content-Type"),
                             now=now)  # fmt: skip
        if event is None:
            return None
        result = ProviderResult(event.merchant_payment_id, event.status, failure_code=event.failure_code)
        return ProviderEvent(event.merchant_payment_id, None, result)
