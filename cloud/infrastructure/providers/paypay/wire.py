"""PayPay's wire shapes as this adapter understands them (docs/providers.md): the store config, the one
status table, our provider references, the result envelope and the transaction webhook."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cloud.domain.errors import ValidationFailed
from cloud.domain.provider_ports import ProviderStatus

NAME = "paypay"
CONTENT_TYPE = "application/json;charset=UTF-8"
DEFAULT_TIMEOUT = 5.0
REQUIRED_KEYS = ("api_key", "api_secret", "base_url")
OPTIONAL_KEYS = ("merchant_id", "timeout_seconds")

# PayPay payment status -> (our provider status, failure_code). The one table (docs/providers.md#statuses).
STATUSES: dict[str, tuple[ProviderStatus, str | None]] = {
    "CREATED": (ProviderStatus.PENDING, None),
    "AUTHORIZED": (ProviderStatus.PENDING, None),
    "REAUTHORIZING": (ProviderStatus.PENDING, None),
    "COMPLETED": (ProviderStatus.SUCCEEDED, None),
    "REFUNDED": (ProviderStatus.SUCCEEDED, None),
    "FAILED": (ProviderStatus.FAILED, "provider_declined"),
    "CANCELED": (ProviderStatus.FAILED, "provider_cancelled"),
    "EXPIRED": (ProviderStatus.FAILED, "provider_expired"),
}

# resultInfo codes of a refused CPM charge: the customer's code, not the gateway, is the problem.
DECLINES: dict[str, str] = {
    "INVALID_USER_AUTHORIZATION_ID": "provider_invalid_code",
    "EXPIRED_USER_AUTHORIZATION_ID": "provider_invalid_code",
    "INSUFFICIENT_BALANCE": "provider_declined",
    "TRANSACTION_DECLINED": "provider_declined",
}


class WireError(ValueError):
    """A PayPay answer this adapter cannot read."""


@dataclass(frozen=True, slots=True)
class PayPayConfig:
    """A store's PayPay config, validated: where to call and with which (secret) key."""

    api_key: str
    api_secret: str = field(repr=False)
    base_url: str
    merchant_id: str | None = None
    timeout_seconds: float = DEFAULT_TIMEOUT


def parse_config(credentials: Mapping[str, str]) -> PayPayConfig:
    """The config from a StoreProviderConfig's credentials; ValidationFailed naming the bad key otherwise."""
    unknown = sorted(set(credentials) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS))
    if unknown:
        allowed = ", ".join(REQUIRED_KEYS + OPTIONAL_KEYS)
        raise ValidationFailed(f"unknown paypay credential key {unknown[0]!r}; allowed: {allowed}",
                               param="credentials")  # fmt: skip
    for key in REQUIRED_KEYS:
        if not str(credentials.get(key, "")).strip():
            raise ValidationFailed(f"paypay credentials need a non-empty {key!r}", param="credentials")
    if ":" in credentials["api_key"]:
        raise ValidationFailed("paypay api_key cannot contain ':'", param="credentials")
    return PayPayConfig(
        api_key=credentials["api_key"],
        api_secret=credentials["api_secret"],
        base_url=_base_url(credentials["base_url"]),
        merchant_id=credentials.get("merchant_id") or None,
        timeout_seconds=_timeout(credentials.get("timeout_seconds")),
    )


def _base_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ValidationFailed("paypay base_url must be an http(s) URL without query, e.g. "
                               "http://127.0.0.1:8090", param="credentials")  # fmt: skip
    return value.strip().rstrip("/")


def _timeout(value: str | None) -> float:
    if value is None:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds <= 60:
        raise ValidationFailed("paypay timeout_seconds must be a number in (0, 60]", param="credentials")
    return seconds


@dataclass(frozen=True, slots=True)
class Reference:
    """Our provider_ref for PayPay: what was created (an MPM code or a CPM payment) and its ids."""

    kind: str  # "mpm" or "cpm"
    merchant_payment_id: str
    code_id: str | None = None

    def __str__(self) -> str:
        tail = f":{self.code_id}" if self.code_id else ""
        return f"{self.kind}:{self.merchant_payment_id}{tail}"

    @classmethod
    def parse(cls, text: str) -> Reference | None:
        """The reference, or None if this adapter did not make it."""
        kind, _, rest = text.partition(":")
        mpid, _, code_id = rest.partition(":")
        if kind not in ("mpm", "cpm") or not mpid:
            return None
        return cls(kind, mpid, code_id or None)


def status_of(paypay_status: object) -> tuple[ProviderStatus, str | None]:
    """Our status and failure code for a PayPay status string (WireError for one not in the table)."""
    mapped = STATUSES.get(paypay_status) if isinstance(paypay_status, str) else None
    if mapped is None:
        raise WireError(f"unknown PayPay status {paypay_status!r}")
    return mapped


@dataclass(frozen=True, slots=True)
class Envelope:
    """A decoded PayPay answer: `resultInfo.code` and `data` (an object, or empty)."""

    http_status: int
    code: str
    data: dict[str, Any]


def envelope(http_status: int, body: bytes) -> Envelope:
    """Decode `{"resultInfo": {"code": …}, "data": …}` (WireError if it is not that shape)."""
    try:
        doc = json.loads(body)
    except ValueError as err:
        raise WireError(f"PayPay answered {http_status} with a body that is not JSON") from err
    info = doc.get("resultInfo") if isinstance(doc, dict) else None
    if not isinstance(info, dict) or not isinstance(info.get("code"), str):
        raise WireError(f"PayPay answered {http_status} without resultInfo.code")
    data = doc.get("data")
    return Envelope(http_status, info["code"], data if isinstance(data, dict) else {})


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """A PayPay transaction notification, read."""

    merchant_payment_id: str
    state: str
    status: ProviderStatus
    failure_code: str | None
    paypay_order_id: str | None = None


def parse_webhook(body: bytes) -> WebhookEvent:
    """A `notification_type: "Transaction"` body (WireError for anything else)."""
    try:
        doc = json.loads(body)
    except ValueError as err:
        raise WireError("webhook body is not JSON") from err
    if not isinstance(doc, dict) or doc.get("notification_type") != "Transaction":
        raise WireError("not a PayPay transaction notification")
    mpid, state = doc.get("merchant_order_id"), doc.get("state")
    if not isinstance(mpid, str) or not mpid:
        raise WireError("webhook has no merchant_order_id")
    status, failure = status_of(state)
    order = doc.get("order_id")
    return WebhookEvent(mpid, str(state), status, failure, order if isinstance(order, str) else None)
