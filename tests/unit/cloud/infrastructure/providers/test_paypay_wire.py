"""PayPay wire shapes: the store config, the one status table, references, webhooks and their check."""

from __future__ import annotations

import json

import pytest

from cloud.domain.errors import ValidationFailed
from cloud.domain.provider_ports import ProviderStatus
from cloud.domain.tenants import StoreProviderConfig
from cloud.infrastructure.providers.paypay import auth, wire
from cloud.infrastructure.providers.paypay.webhook import read_webhook, verify_webhook

CREDS = {"api_key": "k1", "api_secret": "s1", "base_url": "http://127.0.0.1:9"}
CONFIG = StoreProviderConfig("spc_1", "str_1", "paypay", CREDS, 0.0)


class TestConfig:
    def test_base_url_is_required(self) -> None:
        """No base_url, no config: nothing defaults to PayPay's hosts."""
        with pytest.raises(ValidationFailed, match="base_url"):
            wire.parse_config({"api_key": "k", "api_secret": "s"})

    def test_unknown_keys_and_bad_values_are_refused(self) -> None:
        """A typo, a non-URL base_url or an out-of-range timeout is a validation error."""
        for bad in (
            {**CREDS, "apikey": "x"},
            {**CREDS, "base_url": "ftp://h"},
            {**CREDS, "timeout_seconds": "0"},
        ):
            with pytest.raises(ValidationFailed):
                wire.parse_config(bad)

    def test_secret_is_not_in_the_repr(self) -> None:
        """The parsed config never prints its secret."""
        cfg = wire.parse_config({**CREDS, "merchant_id": "m1", "timeout_seconds": "2.5"})
        assert "s1" not in repr(cfg)
        assert (cfg.merchant_id, cfg.timeout_seconds) == ("m1", 2.5)


class TestStatuses:
    @pytest.mark.parametrize(
        ("paypay", "ours", "failure"),
        [
            ("CREATED", ProviderStatus.PENDING, None),
            ("AUTHORIZED", ProviderStatus.PENDING, None),
            ("COMPLETED", ProviderStatus.SUCCEEDED, None),
            ("REFUNDED", ProviderStatus.SUCCEEDED, None),
            ("FAILED", ProviderStatus.FAILED, "provider_declined"),
            ("CANCELED", ProviderStatus.FAILED, "provider_cancelled"),
            ("EXPIRED", ProviderStatus.FAILED, "provider_expired"),
        ],
    )
    def test_table(self, paypay: str, ours: ProviderStatus, failure: str | None) -> None:
        """Each PayPay status maps onto ours through the one table."""
        assert wire.status_of(paypay) == (ours, failure)

    def test_unknown_status_is_a_wire_error(self) -> None:
        """A status outside the table is never guessed."""
        with pytest.raises(wire.WireError):
            wire.status_of("SOMETHING_NEW")


class TestReference:
    def test_round_trip(self) -> None:
        """MPM references carry the codeId, CPM ones only the merchantPaymentId."""
        for ref in (wire.Reference("mpm", "pi_1", "04-abc"), wire.Reference("cpm", "pi_2")):
            assert wire.Reference.parse(str(ref)) == ref
        assert wire.Reference.parse("simqr_123") is None


def signed_webhook(
    state: str = "COMPLETED", secret: str = CREDS["api_secret"], epoch: int = 1000
) -> tuple[str, bytes]:
    body = json.dumps(
        {"notification_type": "Transaction", "merchant_order_id": "pi_1", "order_id": "p1", "state": state}
    ).encode()
    header = auth.sign(
        "k1", secret, method="POST", resource="/hook", body=body, content_type=wire.CONTENT_TYPE, epoch=epoch
    )
    return header, body


class TestWebhook:
    def test_signed_notification_reads(self) -> None:
        """A notification signed with the store's key is verified and read."""
        header, body = signed_webhook()
        event = read_webhook(
            CONFIG,
            authorization=header,
            resource="/hook",
            body=body,
            content_type=wire.CONTENT_TYPE,
            now=1010,
        )
        assert event is not None
        assert (event.merchant_payment_id, event.status) == ("pi_1", ProviderStatus.SUCCEEDED)

    def test_tampered_stale_or_foreign_notifications_are_refused(self) -> None:
        """Another body, an old epoch, another secret or another path fail the check."""
        header, body = signed_webhook()
        kwargs = {"resource": "/hook", "content_type": wire.CONTENT_TYPE}
        assert not verify_webhook(
            CONFIG, authorization=header, body=body.replace(b"pi_1", b"pi_2"), now=1000, **kwargs
        )
        assert not verify_webhook(CONFIG, authorization=header, body=body, now=1000 + 301, **kwargs)
        other, body2 = signed_webhook(secret="not-the-store-secret")
        assert not verify_webhook(CONFIG, authorization=other, body=body2, now=1000, **kwargs)
        assert not verify_webhook(
            CONFIG,
            authorization=header,
            body=body,
            now=1000,
            resource="/other",
            content_type=wire.CONTENT_TYPE,
        )
        assert not verify_webhook(CONFIG, authorization=None, body=body, now=1000, **kwargs)
