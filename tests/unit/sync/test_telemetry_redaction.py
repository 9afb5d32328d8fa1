"""Query values never reach a collector (docs/observability.md#traces)."""

from __future__ import annotations

import pytest

from sync.telemetry import redact_query

CASES = [
    ("payment_token=tok_abc", "payment_token=REDACTED"),
    ("limit=1&payment_token=tok_abc", "limit=REDACTED&payment_token=REDACTED"),
    ("https://pgw.example/v1/payment_intents/pi_1?payment_token=tok_abc",
     "https://pgw.example/v1/payment_intents/pi_1?payment_token=REDACTED"),
    ("/v1/payment_intents?starting_after=tok_abc&limit=5",
     "/v1/payment_intents?starting_after=REDACTED&limit=REDACTED"),
    ("https://pgw.example/v1/payment_intents", "https://pgw.example/v1/payment_intents"),
    ("flag&a=", "flag=REDACTED&a=REDACTED"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_query_values_are_blanked_names_kept(text: str, expected: str) -> None:
    assert redact_query(text) == expected
    assert "tok_abc" not in redact_query(text)
