"""HMAC signing exactly as docs/cloud-api.md, checked against the worked example."""

import hashlib
import hmac

import pytest

from sync import signing

BODY = b'{"amount": 1000}'


class TestSigning:
    def test_worked_example_key(self) -> None:
        """The HMAC key is the ASCII hex SHA-256 of the secret."""
        key = signing.secret_key_hash("sk_test_xyz789")
        assert key.startswith("b9fd1af0") and key.endswith("62b2b42e") and len(key) == 64

    def test_worked_example_signature(self) -> None:
        """The docs/cloud-api.md worked example gives the published signature."""
        sig = signing.sign("sk_test_xyz789", "POST", "/v1/payment_intents", 1702123456, BODY)
        assert sig == "85657de354ad2bb70dd9b852509bcc9ce63840eec0a14ae5645e16bff2b57222"

    def test_matches_independent_computation(self) -> None:
        """An independent stdlib computation of the string-to-sign agrees (GET, empty body)."""
        key = hashlib.sha256(b"sk_other").hexdigest().encode()
        msg = b"GET\n/v1/payment_intents\n1700000000\n" + hashlib.sha256(b"").hexdigest().encode()
        want = hmac.new(key, msg, hashlib.sha256).hexdigest()
        assert signing.sign("sk_other", "get", "/v1/payment_intents?limit=3", 1700000000, b"") == want

    def test_header_roundtrip_and_verify(self) -> None:
        """A header built by the client parses and verifies; a one-byte body change fails."""
        header = signing.authorization_header("pk_test_abc123", "sk_test_xyz789", "POST", "/v1/x", 5, BODY)
        parsed = signing.parse_authorization(header)
        assert parsed.api_key == "pk_test_abc123" and parsed.timestamp == 5
        key_hash = signing.secret_key_hash("sk_test_xyz789")
        assert signing.verify(key_hash, parsed, "POST", "/v1/x", BODY)
        assert not signing.verify(key_hash, parsed, "POST", "/v1/x", BODY + b" ")
        assert not signing.verify(key_hash, parsed, "POST", "/v1/y", BODY)

    @pytest.mark.parametrize(
        "value",
        ["", "Bearer abc", "HMAC-SHA256 pk:1:zz", "HMAC-SHA256 pk:abc:" + "0" * 64,
         "HMAC-SHA256 pk:1:" + "A" * 64],
    )
    def test_malformed_header_refused(self, value: str) -> None:
        """Anything but the exact three-field form raises SignatureFormatError."""
        with pytest.raises(signing.SignatureFormatError):
            signing.parse_authorization(value)

    def test_window(self) -> None:
        """±300 s is accepted, 301 s is not."""
        assert signing.within_window(1000, 1300) and signing.within_window(1300, 1000)
        assert not signing.within_window(1000, 1301)
