"""The paypay adapter against the PayPay-API simulator on a real loopback server: wire shape, signature,
status table, and what 5xx, 429 and timeouts do (retried only where PayPay's API is idempotent)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import aiohttp
import pytest

from cloud.domain.errors import ProviderError, ProviderUnavailable
from cloud.domain.intent import MethodType
from cloud.domain.provider_ports import ProviderStatus, RefundRequest
from cloud.infrastructure.providers.paypay import PayPayProvider
from cloud.infrastructure.providers.paypay.client import Breaker, Policy
from cloud.infrastructure.providers.paypay_sim import Fault

from .conftest import FAST, PP_KEY, PP_MERCHANT, PP_SECRET, PayPay, intent

VALID_CODE, DECLINED_CODE, CONFIRM_CODE = "123456789012345678", "923456789012345678", "823456789012345678"


def independent_header(method: str, path: str, body: bytes, nonce: str, epoch: int) -> str:
    """OPA-Auth computed here from the recipe, without the module under test."""
    ctype = "application/json;charset=UTF-8"
    hashed = base64.b64encode(hashlib.md5(ctype.encode() + body).digest()).decode()  # noqa: S324 - PayPay's MD5
    message = "\n".join([path, method, nonce, str(epoch), ctype, hashed]).encode()
    mac = base64.b64encode(hmac.new(PP_SECRET.encode(), message, hashlib.sha256).digest()).decode()
    return f"hmac OPA-Auth:{PP_KEY}:{mac}:{nonce}:{epoch}:{hashed}"


class TestSignatureAtTheSimulator:
    async def post(self, paypay: PayPay, header: str, body: bytes) -> tuple[int, dict[str, object]]:
        headers = {
            "Authorization": header,
            "Content-Type": "application/json;charset=UTF-8",
            "X-ASSUME-MERCHANT": PP_MERCHANT,
        }
        async with (
            aiohttp.ClientSession() as s,
            s.post(paypay.url + "/v2/codes", data=body, headers=headers) as r,
        ):
            return r.status, await r.json()

    def body(self) -> bytes:
        return json.dumps(
            {
                "merchantPaymentId": "pi_vector",
                "amount": {"amount": 500, "currency": "JPY"},
                "codeType": "ORDER_QR",
            }
        ).encode()

    async def test_independent_vector_is_accepted_once(self, paypay: PayPay) -> None:
        """A header computed by hand is accepted; the same nonce again is refused."""
        header = independent_header("POST", "/v2/codes", self.body(), "n0nce001", int(time.time()))
        status, doc = await self.post(paypay, header, self.body())
        assert (status, doc["resultInfo"]["code"]) == (201, "SUCCESS")  # type: ignore[index]
        again, doc = await self.post(paypay, header, self.body())
        assert (again, doc["resultInfo"]["code"]) == (401, "UNAUTHORIZED")  # type: ignore[index]

    async def test_tampered_body_and_old_epoch_are_refused(self, paypay: PayPay) -> None:
        """The simulator checks the body hash and the time window."""
        header = independent_header("POST", "/v2/codes", self.body(), "n0nce002", int(time.time()))
        status, _ = await self.post(paypay, header, self.body().replace(b"500", b"501"))
        assert status == 401
        stale = independent_header("POST", "/v2/codes", self.body(), "n0nce003", int(time.time()) - 3600)
        status, _ = await self.post(paypay, stale, self.body())
        assert status == 401
        assert "pi_vector" not in paypay.sim.payments

    async def test_wrong_secret_from_the_adapter_is_a_provider_error(
        self, paypay: PayPay, provider: PayPayProvider
    ) -> None:
        """A store configured with a wrong secret gets 502-class ProviderError, not a retry storm."""
        with pytest.raises(ProviderError, match="UNAUTHORIZED"):
            await provider.create_mpm(intent(), paypay.config(api_secret="wrong"))
        assert paypay.sim.calls("POST", "/v2/codes") == 1


class TestMpm:
    async def test_code_then_paid(self, paypay: PayPay, provider: PayPayProvider) -> None:
        """POST /v2/codes gives the QR URL; the status reads pending, then succeeded once paid."""
        pi, config = intent(), paypay.config()
        made = await provider.create_mpm(pi, config)
        assert made.status is ProviderStatus.PENDING and made.qr_content == paypay.sim.payments[pi.id].url
        assert (await provider.status(made.reference, config)).status is ProviderStatus.PENDING
        paypay.sim.complete(pi.id)
        assert (await provider.status(made.reference, config)).status is ProviderStatus.SUCCEEDED

    async def test_create_is_retried_after_5xx_and_lands_once(
        self, paypay: PayPay, provider: PayPayProvider
    ) -> None:
        """A 500 on the (idempotent) code create is retried; the code exists once."""
        paypay.sim.inject(Fault("POST", "/v2/codes", status=500, after=True))
        pi = intent()
        made = await provider.create_mpm(pi, paypay.config())
        assert paypay.sim.calls("POST", "/v2/codes") == 2
        assert made.qr_content == paypay.sim.payments[pi.id].url

    async def test_429_is_retried_with_retry_after(self, paypay: PayPay, provider: PayPayProvider) -> None:
        """A rate-limited call is repeated after PayPay's Retry-After (capped)."""
        paypay.sim.inject(Fault("POST", "/v2/codes", status=429, retry_after=1), times=2)
        await provider.create_mpm(intent(), paypay.config())
        assert paypay.sim.calls("POST", "/v2/codes") == 3

    async def test_persistent_5xx_429_and_timeouts_are_unavailable(
        self, paypay: PayPay, provider: PayPayProvider
    ) -> None:
        """After the bounded retries each gives ProviderUnavailable with its own code."""
        for fault, code in (
            (Fault(status=503), "provider_unavailable"),
            (Fault(status=429), "provider_rate_limited"),
            (Fault(delay_s=5), "provider_timeout"),
        ):
            paypay.sim.faults.clear()
            paypay.sim.inject(fault, times=FAST.attempts)
            with pytest.raises(ProviderUnavailable) as caught:
                await provider.create_mpm(intent(), paypay.config())
            assert caught.value.code == code

    async def test_circuit_opens_after_repeated_outages(self, paypay: PayPay) -> None:
        """Calls that keep failing open the breaker: the next call fails fast without reaching PayPay."""
        provider = PayPayProvider(policy=Policy(attempts=1))
        provider._client.breaker_factory = lambda: Breaker(threshold=2, cooldown_s=3600)
        paypay.sim.inject(Fault(status=500), times=2)
        for _ in range(2):
            with pytest.raises(ProviderUnavailable):
                await provider.create_mpm(intent(), paypay.config())
        with pytest.raises(ProviderUnavailable) as caught:
            await provider.create_mpm(intent(), paypay.config())
        assert caught.value.code == "provider_circuit_open"
        assert paypay.sim.calls("POST", "/v2/codes") == 2
        await provider.aclose()

    async def test_cancel_deletes_the_code(self, paypay: PayPay, provider: PayPayProvider) -> None:
        """DELETE /v2/codes/{codeId}: the payment reads cancelled; a second cancel is harmless."""
        pi, config = intent(), paypay.config()
        made = await provider.create_mpm(pi, config)
        await provider.cancel(made.reference, config)
        await provider.cancel(made.reference, config)
        read = await provider.status(made.reference, config)
        assert (read.status, read.failure_code) == (ProviderStatus.FAILED, "provider_cancelled")

    async def test_expiry(self, paypay: PayPay, provider: PayPayProvider) -> None:
        """A code past its expiryDate reads as failed with provider_expired."""
        pi, config = intent(expires_in=-5), paypay.config()
        made = await provider.create_mpm(pi, config)
        read = await provider.status(made.reference, config)
        assert (read.status, read.failure_code) == (ProviderStatus.FAILED, "provider_expired")


class TestCpm:
    async def test_valid_invalid_declined_and_confirming_codes(
        self, paypay: PayPay, provider: PayPayProvider
    ) -> None:
        """Valid: paid; malformed: provider_invalid_code; poor wallet: declined; needs confirming: pending."""
        config = paypay.config()
        cases = {
            VALID_CODE: (ProviderStatus.SUCCEEDED, None),
            "garbage": (ProviderStatus.FAILED, "provider_invalid_code"),
            DECLINED_CODE: (ProviderStatus.FAILED, "provider_declined"),
            CONFIRM_CODE: (ProviderStatus.PENDING, None),
        }
        for code, expected in cases.items():
            got = await provider.charge_cpm(intent(method=MethodType.QR_CPM), code, config)
            assert (got.status, got.failure_code) == expected, code

    async def test_create_is_not_repeated_on_5xx(self, paypay: PayPay, provider: PayPayProvider) -> None:
        """A 500 before PayPay acted: one create, the read-back finds nothing; confirm may be repeated."""
        paypay.sim.inject(Fault("POST", "/v2/payments", status=500))
        pi = intent(method=MethodType.QR_CPM)
        with pytest.raises(ProviderUnavailable):
            await provider.charge_cpm(pi, VALID_CODE, paypay.config())
        assert paypay.sim.calls("POST", "/v2/payments") == 1
        assert pi.id not in paypay.sim.payments

    async def test_lost_answer_is_read_back(self, paypay: PayPay, provider: PayPayProvider) -> None:
        """A timeout after PayPay charged: the payment is read back as succeeded, never guessed."""
        paypay.sim.inject(Fault("POST", "/v2/payments", delay_s=5, after=True))
        pi = intent(method=MethodType.QR_CPM)
        got = await provider.charge_cpm(pi, VALID_CODE, paypay.config())
        assert got.status is ProviderStatus.SUCCEEDED
        assert paypay.sim.calls("POST", "/v2/payments") == 1

    async def test_unreadable_outcome_stays_pending(self, paypay: PayPay, provider: PayPayProvider) -> None:
        """Create and every read-back fail: pending with a reference, for a later sync to settle."""
        paypay.sim.inject(Fault("POST", "/v2/payments", status=500, after=True))
        paypay.sim.inject(Fault("GET", "/v2/payments", status=503), times=FAST.attempts)
        pi = intent(method=MethodType.QR_CPM)
        got = await provider.charge_cpm(pi, VALID_CODE, paypay.config())
        assert got.status is ProviderStatus.PENDING
        assert (await provider.status(got.reference, paypay.config())).status is ProviderStatus.SUCCEEDED

    async def test_refund(self, paypay: PayPay, provider: PayPayProvider) -> None:
        """POST /v2/refunds for a paid payment; the same merchantRefundId again is the same refund."""
        pi, config = intent(method=MethodType.QR_CPM), paypay.config()
        paid = await provider.charge_cpm(pi, VALID_CODE, config)
        request = RefundRequest("rf_1", 1200, "JPY", "returned")
        for _ in range(2):
            refund = await provider.refund(paid.reference, request, config)
            assert (refund.reference, refund.status) == ("rf_1", ProviderStatus.SUCCEEDED)
        assert len(paypay.sim.refunds) == 1
        assert (await provider.status(paid.reference, config)).status is ProviderStatus.SUCCEEDED  # REFUNDED

    async def test_missing_config_is_unavailable(self, provider: PayPayProvider) -> None:
        """A store without a paypay config is told so, and nothing is called."""
        with pytest.raises(ProviderUnavailable) as caught:
            await provider.charge_cpm(intent(method=MethodType.QR_CPM), VALID_CODE, None)
        assert caught.value.code == "provider_not_configured"
