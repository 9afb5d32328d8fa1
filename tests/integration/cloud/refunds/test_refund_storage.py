"""The refund repository on both databases: the guarded amount_refunded under concurrent units."""

from __future__ import annotations

import asyncio
import dataclasses

from cloud.domain.errors import Conflict
from cloud.domain.ids import TRANSACTION, new_id
from cloud.domain.refunds import EXCEEDS, REFUND, Refund, RefundStatus, refund_transaction
from cloud.testing import PgwClient, Tenant

from ..conftest import Pgw
from ..helpers import rows
from .helpers import paid


def _refund(
    intent_id: str, tenant: Tenant, amount: int, status: RefundStatus, ref: str | None = None
) -> Refund:
    return Refund(new_id(REFUND), intent_id, tenant.merchant_id, amount, "JPY", status, "partner:test",
                  1.0, merchant_refund_id=ref)  # fmt: skip


async def _add(pgw: Pgw, refund: Refund) -> str:
    uow = pgw.deps.uow()
    try:
        async with uow:
            await uow.refunds.add(refund, refund_transaction(new_id(TRANSACTION), refund, 1.0))
            await uow.commit()
    except Conflict as err:
        return err.code
    return "ok"


class TestGuardedReservation:
    async def test_twenty_units_race_for_one_payment(
        self, pgw: Pgw, tenant: Tenant, client: PgwClient
    ) -> None:
        """Twenty concurrent units of 300 against a payment of 1000: exactly three commit, the others are
        refused with refund_exceeds_remaining and leave no row."""
        intent = await paid(client, 1000)
        refunds = [_refund(intent["id"], tenant, 300, RefundStatus.SUCCEEDED) for _ in range(20)]
        outcomes = await asyncio.gather(*(_add(pgw, r) for r in refunds))
        assert sorted(outcomes).count("ok") == 3 and set(outcomes) == {"ok", EXCEEDS}
        assert rows(
            pgw.db_path, "SELECT amount_refunded FROM payment_intents WHERE id = ?", (intent["id"],)
        ) == [(900,)]
        assert rows(pgw.db_path, "SELECT count(*), sum(amount) FROM refunds") == [(3, 900)]
        txns = rows(pgw.db_path, "SELECT count(*) FROM transactions WHERE reason LIKE 'refund %'")
        assert txns == [(3,)]

    async def test_failed_pending_gives_back(self, pgw: Pgw, tenant: Tenant, client: PgwClient) -> None:
        """A pending refund holds its amount; finishing it failed gives the amount back."""
        intent = await paid(client, 1000)
        pending = _refund(intent["id"], tenant, 1000, RefundStatus.PENDING)
        assert await _add(pgw, pending) == "ok"
        assert await _add(pgw, _refund(intent["id"], tenant, 1, RefundStatus.SUCCEEDED)) == EXCEEDS
        failed = dataclasses.replace(pending, status=RefundStatus.FAILED)
        uow = pgw.deps.uow()
        async with uow:
            await uow.refunds.finish(failed, refund_transaction(new_id(TRANSACTION), failed, 2.0))
            await uow.commit()
        assert await _add(pgw, _refund(intent["id"], tenant, 1000, RefundStatus.SUCCEEDED)) == "ok"
        stored = await pgw.deps.uow().refunds.of_intent(intent["id"])
        assert [r.status for r in stored] == [RefundStatus.FAILED, RefundStatus.SUCCEEDED]

    async def test_merchant_refund_id_once(self, pgw: Pgw, tenant: Tenant, client: PgwClient) -> None:
        """A merchant_refund_id is used once per merchant; the refused unit reserves nothing."""
        intent = await paid(client, 1000)
        assert await _add(pgw, _refund(intent["id"], tenant, 100, RefundStatus.SUCCEEDED, "R-1")) == "ok"
        refused = await _add(pgw, _refund(intent["id"], tenant, 100, RefundStatus.SUCCEEDED, "R-1"))
        assert refused == "merchant_refund_id_in_use"
        assert rows(
            pgw.db_path, "SELECT amount_refunded FROM payment_intents WHERE id = ?", (intent["id"],)
        ) == [(100,)]
