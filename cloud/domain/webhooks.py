"""Webhooks, pure rules (docs/cloud-api.md#webhooks): Standard Webhooks signatures, the event types and
bodies, endpoints and deliveries, the retry schedule, the delivery-target policy (SSRF guard)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from cloud.domain.errors import ValidationFailed
from cloud.domain.intent import PaymentIntent, Status, Transaction
from cloud.domain.refunds import Refund, RefundStatus

SECRET_PREFIX = "whsec_"  # noqa: S105 — the prefix of every secret, not a secret
SECRET_BYTES = 32  # Standard Webhooks allows 24-64 random bytes
TOLERANCE_S = 300  # a signed timestamp further than this from now is refused
EVENT = "evt"
ENDPOINT = "we"


class EventType(StrEnum):
    """What a partner can subscribe to."""

    PI_SUCCEEDED = "payment_intent.succeeded"
    PI_FAILED = "payment_intent.failed"
    PI_CANCELLED = "payment_intent.cancelled"
    PI_REQUIRES_ACTION = "payment_intent.requires_action"
    PI_REQUIRES_CAPTURE = "payment_intent.requires_capture"
    SYNC_BATCH_PROCESSED = "sync_batch.processed"
    DEVICE_ACTIVATED = "device.activated"
    REFUND_SUCCEEDED = "refund.succeeded"
    REFUND_FAILED = "refund.failed"


INTENT_EVENTS: dict[Status, EventType] = {
    Status.SUCCEEDED: EventType.PI_SUCCEEDED,
    Status.FAILED: EventType.PI_FAILED,
    Status.CANCELLED: EventType.PI_CANCELLED,
    Status.REQUIRES_ACTION: EventType.PI_REQUIRES_ACTION,
    Status.REQUIRES_CAPTURE: EventType.PI_REQUIRES_CAPTURE,
}


def intent_event_type(intent: PaymentIntent, txns: Sequence[Transaction]) -> EventType | None:
    """The event a saved move announces: its final state's, if partners hear of that state."""
    if not txns or txns[-1].to_status is not intent.status:
        return None
    return INTENT_EVENTS.get(intent.status)


REFUND_EVENTS: dict[RefundStatus, EventType] = {
    RefundStatus.SUCCEEDED: EventType.REFUND_SUCCEEDED,
    RefundStatus.FAILED: EventType.REFUND_FAILED,
}


def refund_event_type(refund: Refund) -> EventType | None:
    """The event a refund's recorded state announces: its final state's; a pending refund announces nothing
    until it ends (docs/cloud-api.md#webhooks)."""
    return REFUND_EVENTS.get(refund.status)


def parse_events(text: str | None) -> tuple[str, ...]:
    """`--events a,b` -> the sorted types; None, empty or `*` -> every type (stored as `*`)."""
    if text is None or text.strip() in ("", "*"):
        return ("*",)
    names = sorted({part.strip() for part in text.split(",") if part.strip()})
    known = {t.value for t in EventType}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValidationFailed(f"unknown event type {unknown[0]!r}; known: {', '.join(sorted(known))}",
                               param="events")  # fmt: skip
    return tuple(names)


def event_body(event_id: str, type_: str, created: float, obj: Mapping[str, Any]) -> bytes:
    """The delivered body: `{"id", "type", "created", "data": {"object": …}}`, compact UTF-8 JSON."""
    doc = {"id": event_id, "type": type_, "created": int(created), "data": {"object": obj}}
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# --- Standard Webhooks signatures -----------------------------------------------------------------------


def new_secret() -> str:
    """A fresh signing secret: `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_` secret: its base64 part decoded (ValueError if it is not that shape)."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError) as err:
        raise ValueError("a webhook secret is whsec_ + base64") from err
    if not 24 <= len(key) <= 64:
        raise ValueError("a webhook secret holds 24-64 bytes")
    return key


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256(key, id.timestamp.body)>`."""
    signed = msg_id.encode("utf-8") + b"." + str(timestamp).encode("ascii") + b"." + body
    mac = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def signed_headers(secrets_: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers, one space-separated signature per live secret."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, msg_id, timestamp, body) for s in secrets_),
    }


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: float,
           tolerance_s: float = TOLERANCE_S) -> bool:  # fmt: skip
    """Whether one of the `webhook-signature` entries is this secret's over this id, timestamp and body."""
    msg_id, stamp, given = (headers.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
    if not msg_id or not stamp or not given or not stamp.isdigit() or len(stamp) > 12:
        return False
    if abs(now - int(stamp)) > tolerance_s:
        return False
    try:
        expected_signature = signature(secret, msg_id, int(stamp), body).encode("ascii")
    except ValueError:
        return False
    found = False
    for given_signature in given.split(" "):
        found |= hmac.compare_digest(given_signature.encode("utf-8", "replace"), expected_signature)
    return found


# --- endpoints and deliveries ---------------------------------------------------------------------------


class EndpointStatus(StrEnum):
    """Whether events are sent to an endpoint."""

    ENABLED = "enabled"
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    """A partner's receiver: where, which events, its signing secret (plain only in memory)."""

    id: str
    partner_id: str
    url: str
    events: tuple[str, ...]
    secret: str
    status: EndpointStatus
    created_at: float
    failing_since: float | None = None
    disabled_reason: str | None = None

    def wants(self, type_: str) -> bool:
        """Subscribed to this event type?"""
        return "*" in self.events or type_ in self.events


@dataclass(frozen=True, slots=True)
class Event:
    """One outbox row: an event id (stable across retries), its type, owner, time and the exact body."""

    id: str
    type: str
    partner_id: str
    created_at: float
    body: bytes


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """A delivery the dispatcher should attempt now, with what it needs to send it."""

    event_id: str
    endpoint_id: str
    attempts: int  # made so far
    url: str
    secret: str
    body: bytes


@dataclass(frozen=True, slots=True)
class SendResult:
    """What one HTTP attempt got: a status (None: no answer), how long it took, an excerpt or error."""

    status: int | None
    latency_ms: int
    excerpt: str = ""
    error: str | None = None

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True, slots=True)
class Outcome:
    """An attempt applied: delivered, retried at `next_at`, or given up (the endpoint may be disabled)."""

    delivery: DueDelivery
    result: SendResult
    at: float
    next_at: float | None  # None: delivered or given up
    gave_up: bool


# --- retry schedule -------------------------------------------------------------------------------------

FIRST_DELAY_S = 60.0
MAX_DELAY_S = 12 * 3600.0
MAX_ATTEMPTS = 16  # 1 + 15 retries: about 3.2 days with the delays below
JITTER = 0.2  # each delay is drawn from ±20 % of its nominal value
DISABLE_AFTER_S = 72 * 3600.0  # an endpoint failing this long, when a delivery gives up, is disabled


def nominal_delay(attempts_made: int) -> float:
    """Seconds before the next try after `attempts_made` failures: 1 min doubling to a 12 h cap."""
    return min(MAX_DELAY_S, FIRST_DELAY_S * 2.0 ** (attempts_made - 1))


def next_attempt(attempts_made: int, now: float, rand: float) -> float | None:
    """When to try again after `attempts_made` failed tries (`rand` in [0, 1)), or None: give up."""
    if attempts_made >= MAX_ATTEMPTS:
        return None
    return now + nominal_delay(attempts_made) * (1.0 - JITTER + 2 * JITTER * rand)


def schedule_span_s() -> float:
    """The nominal time from the first try to the last (docs/cloud-api.md#webhooks)."""
    return sum(nominal_delay(n) for n in range(1, MAX_ATTEMPTS))


# --- delivery targets (SSRF guard) ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TargetPolicy:
    """Which delivery targets are allowed: https to public addresses, plus what the operator turned on."""

    allow_loopback: bool = False  # http:// and https:// to 127.0.0.0/8 and ::1 (tests, demos)
    allow_private: bool = False  # private, link-local, CGNAT and unique-local ranges

    def address_allowed(self, address: str) -> bool:
        """Whether a resolved IP address may be connected to."""
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip.is_loopback:
            return self.allow_loopback
        if ip.is_multicast or ip.is_unspecified or ip.is_reserved:
            return False
        if ip.is_private or ip.is_link_local or ip in _CGNAT or not ip.is_global:
            return self.allow_private
        return True

    def check_url(self, url: str) -> str:
        """The URL if it is an allowed target (https, or http to a loopback address when allowed)."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.scheme not in ("https", "http") or not host or parts.username or parts.password:
            raise ValidationFailed("the URL must be https://host[:port]/path", param="url")
        if len(url) > 2048:
            raise ValidationFailed("the URL is longer than 2048 characters", param="url")
        literal = _literal_ip(host)
        loopback = host == "localhost" or (literal is not None and literal.is_loopback)
        if parts.scheme == "http" and not (loopback and self.allow_loopback):
            raise ValidationFailed("the URL must be https (http only to loopback, when allowed)", param="url")
        if literal is not None and not self.address_allowed(host):
            raise ValidationFailed("the URL points at an address that is not allowed", param="url")
        if host == "localhost" and not self.allow_loopback:
            raise ValidationFailed("the URL points at an address that is not allowed", param="url")
        return url


_CGNAT = ipaddress.ip_network("100.64.0.0/10")


def _literal_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None
