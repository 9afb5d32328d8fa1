"""The pure card-number rules of a sale: which fields are free-form, what is masked, what is never echoed."""

from __future__ import annotations

import pytest

from agent.domain.card_data import masked_reader_result, refuse_card_numbers
from agent.domain.commands import CreateSale
from agent.domain.errors import SaleRefused
from agent.domain.ports import CardResult

PAN = "5555555555554444"


class TestRefuseCardNumbers:
    """refuse_card_numbers(cmd)."""

    def test_clean_sale_passes(self) -> None:
        """A sale with ordinary text and numbers is not refused."""
        refuse_card_numbers(CreateSale.model_validate(
            {"amount": 1, "payment_method": "cash", "cash_received": 1,
             "merchant_ref_id": "POS-1700000000000", "metadata": {"table": 12, "at": 1_700_000_000_000}}))

    def test_key_is_masked_in_the_param(self) -> None:
        """A metadata key that is the number is named masked, and the message never holds the number."""
        cmd = CreateSale.model_validate({"amount": 1, "payment_method": "cash", "metadata": {PAN: True}})
        with pytest.raises(SaleRefused) as info:
            refuse_card_numbers(cmd)
        assert info.value.code == "card_number_refused" and info.value.status == 422
        assert info.value.param == "metadata.************4444"
        assert PAN not in str(info.value.body())

    def test_customer_code_is_not_free_form(self) -> None:
        """A CPM customer code of digits is a payment token for the cloud, not refused here."""
        refuse_card_numbers(CreateSale.model_validate(
            {"amount": 1, "payment_method": "qr_cpm", "customer_code": PAN}))


class TestMaskedReaderResult:
    """masked_reader_result(card)."""

    def test_nothing_to_mask(self) -> None:
        """A clean result comes back as it is, with no field named."""
        card = CardResult("approved", "A1", "VISA", "4444", "chip")
        assert masked_reader_result(card) == (card, [])

    def test_masks_each_text_field(self) -> None:
        """Brand, approval code and decline reason are masked to the last four digits."""
        card = CardResult("declined", PAN, f"MC {PAN}", "4444", "swipe", f"no: {PAN}")
        masked, fields = masked_reader_result(card)
        assert fields == ["approval_code", "card_brand", "decline_reason"]
        assert masked.approval_code == "*" * 12 + "4444"
        assert PAN not in repr(masked)
