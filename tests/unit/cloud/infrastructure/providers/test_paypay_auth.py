"""OPA-Auth: the header the adapter makes equals one computed here by hand from PayPay's published recipe."""

from __future__ import annotations

import base64
import hashlib
import hmac

from cloud.infrastructure.providers.paypay import auth

KEY, SECRET = "a_test_key", "c2VjcmV0LXRlc3QtdmFsdWU="
CT = "application/json;charset=UTF-8"
BODY = b'{"merchantPaymentId":"pi_1","amount":{"amount":1200,"currency":"JPY"},"codeType":"ORDER_QR"}'


def by_hand(method: str, resource: str, nonce: str, epoch: int, body: bytes | None) -> str:
    """The header, step by step as PayPay documents it (independent of the module under test)."""
    if body is None:
        ctype, hashed = "empty", "empty"
    else:
        ctype = CT
        md5 = hashlib.md5()  # noqa: S324 - PayPay's body hash is MD5 by definition
        md5.update(ctype.encode())
        md5.update(body)
        hashed = base64.b64encode(md5.digest()).decode()
    message = f"{resource}\n{method}\n{nonce}\n{epoch}\n{ctype}\n{hashed}".encode()
    mac = base64.b64encode(hmac.new(SECRET.encode(), message, hashlib.sha256).digest()).decode()
    return f"hmac OPA-Auth:{KEY}:{mac}:{nonce}:{epoch}:{hashed}"


class TestSign:
    def test_post_matches_the_hand_computed_vector(self) -> None:
        """A POST with a JSON body signs exactly as the recipe says."""
        made = auth.sign(
            KEY,
            SECRET,
            method="POST",
            resource="/v2/codes",
            body=BODY,
            content_type=CT,
            epoch=1702123456,
            nonce="ab12cd34",
        )
        assert made == by_hand("POST", "/v2/codes", "ab12cd34", 1702123456, BODY)

    def test_get_without_body_hashes_as_empty(self) -> None:
        """No body: content type and hash are both the word "empty"."""
        made = auth.sign(
            KEY,
            SECRET,
            method="GET",
            resource="/v2/payments/pi_1",
            body=None,
            content_type=CT,
            epoch=1702123456,
            nonce="00ff00ff",
        )
        assert made == by_hand("GET", "/v2/payments/pi_1", "00ff00ff", 1702123456, None)
        assert made.endswith(":empty")

    def test_fresh_nonce_each_time(self) -> None:
        """Two signatures of the same request differ (single-use nonces)."""
        one = auth.sign(KEY, SECRET, method="GET", resource="/x", body=None, content_type=CT, epoch=1)
        two = auth.sign(KEY, SECRET, method="GET", resource="/x", body=None, content_type=CT, epoch=1)
        assert one != two


class TestVerify:
    def header(self, body: bytes | None = BODY) -> auth.OpaAuth:
        parsed = auth.parse(by_hand("POST", "/v2/codes", "ab12cd34", 1702123456, body))
        assert parsed is not None
        return parsed

    def test_accepts_the_hand_computed_header(self) -> None:
        """The verifier accepts a header it did not make itself."""
        assert auth.verify(
            self.header(), SECRET, method="POST", resource="/v2/codes", body=BODY, content_type=CT
        )

    def test_refuses_a_changed_body(self) -> None:
        """One changed byte of the body fails the check."""
        changed = BODY.replace(b"1200", b"1201")
        assert not auth.verify(
            self.header(), SECRET, method="POST", resource="/v2/codes", body=changed, content_type=CT
        )

    def test_refuses_another_secret_method_or_path(self) -> None:
        """The secret, the method and the path are all covered."""
        parsed = self.header()
        assert not auth.verify(
            parsed, SECRET + "x", method="POST", resource="/v2/codes", body=BODY, content_type=CT
        )
        assert not auth.verify(parsed, SECRET, method="PUT", resource="/v2/codes", body=BODY, content_type=CT)
        assert not auth.verify(
            parsed, SECRET, method="POST", resource="/v2/refunds", body=BODY, content_type=CT
        )

    def test_parse_refuses_malformed_headers(self) -> None:
        """Other schemes, missing fields and non-numeric epochs are not OPA-Auth."""
        assert auth.parse("HMAC-SHA256 a:b:c") is None
        assert auth.parse("hmac OPA-Auth:k:m:n:notanumber:h") is None
        assert auth.parse("hmac OPA-Auth:k:m::1:h") is None
