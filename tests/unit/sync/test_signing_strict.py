"""parse_authorization accepts one form only (docs/cloud-api.md#authentication-hmac-sha256)."""

from __future__ import annotations

import pytest

from sync import signing

SIG = "ab" * 32
GOOD = f"HMAC-SHA256 pk_test_abc123:1702123456:{SIG}"


class TestStrictParse:
    def test_the_one_form_parses(self) -> None:
        """The documented form gives its three fields; a timestamp of 0 is a number like any other."""
        parsed = signing.parse_authorization(GOOD)
        assert (parsed.api_key, parsed.timestamp, parsed.signature) == ("pk_test_abc123", 1702123456, SIG)
        assert signing.parse_authorization(f"HMAC-SHA256 k:0:{SIG}").timestamp == 0

    @pytest.mark.parametrize(
        "value",
        [
            GOOD + " ",  # trailing space
            " " + GOOD,  # leading space
            GOOD + "\n",  # a regex `$` would let this through
            GOOD + "\r\n",
            f"HMAC-SHA256 pk_test_abc123:01702123456:{SIG}",  # zero-padded timestamp
            f"HMAC-SHA256 pk_test_abc123:00:{SIG}",
            f"HMAC-SHA256 pk_test_abc123:1702123456:{SIG.upper()}",
            f"HMAC-SHA256 pk_test_abc123:1702123456:{SIG[:-1]}F",
            f"HMAC-SHA256 pk_test_abc123:1702123456:{SIG}:x",  # extra field
            f"HMAC-SHA256 a:pk_test_abc123:1702123456:{SIG}",
            f"HMAC-SHA256  pk_test_abc123:1702123456:{SIG}",
            f"Hmac-Sha256 pk_test_abc123:1702123456:{SIG}",
            f"HMAC-SHA256 pk_test_abc123:１７０２１２３４５６:{SIG}",  # non-ASCII digits
        ],
    )
    def test_any_other_shape_is_refused(self, value: str) -> None:
        """Nothing is stripped or normalised: every variant raises SignatureFormatError."""
        with pytest.raises(signing.SignatureFormatError):
            signing.parse_authorization(value)
