"""Settlement handlers (docs/cloud-api.md#settlements): a device uploads its Z report once; a partner lists
a store's reports."""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from typing import Any

from cloud.domain.errors import Conflict, NotFound, ValidationFailed
from cloud.domain.ports import Clock, TenantRepository, UnitOfWork
from cloud.domain.settlements import Settlement, check_figures, conflict, digest_of
from cloud.domain.tenants import Credential, Store
from cloud.service.sync_batches import device_of


def _same_or_conflict(stored: Settlement, digest: str) -> Settlement:
    if not hmac.compare_digest(stored.digest, digest):  # not a secret, but compared like one anyway
        raise conflict("this settlement_id was uploaded with another body")
    return stored


async def upload_settlement(
    report: Mapping[str, Any], caller: Credential, *, uow: UnitOfWork, tenants: TenantRepository, clock: Clock
) -> tuple[Settlement, bool]:
    """(the stored settlement, True if this call stored it): the same body again is the stored one; another
    body under its settlement_id, or another settlement with its z_number, is Conflict settlement_conflict."""
    device_id = device_of(caller, str(report["device_id"]))
    check_figures(report)
    store = await tenants.get_store(caller.store_id or "")
    if store is None:
        raise NotFound("the device's store no longer exists")
    digest, settlement_id = digest_of(report), str(report["settlement_id"])
    async with uow:
        stored = await uow.settlements.get(device_id, settlement_id)
        if stored is not None:
            return _same_or_conflict(stored, digest), False
        z, day = int(report["z_number"]), str(report["business_date"])
        made = Settlement(settlement_id, device_id, store.partner_id, store.id, store.code, z, day, clock(),
                          report, digest)  # fmt: skip
        await uow.settlements.add(made)
        try:
            await uow.commit()
        except Conflict:
            raced = await uow.settlements.get(device_id, settlement_id)  # a concurrent upload of the same?
            if raced is None:
                raise  # the z_number is another settlement's
            return _same_or_conflict(raced, digest), False
    return made, True


async def _store_of(
    caller: Credential, code: str, merchant_id: str | None, tenants: TenantRepository
) -> Store:
    """The caller's store with this code (NotFound for another tenant's: no existence leak)."""
    if caller.merchant_id is not None and merchant_id not in (None, caller.merchant_id):
        raise NotFound("no such store for this partner", param="merchant_id")
    stores = await tenants.find_stores(caller.partner_id, code, merchant_id or caller.merchant_id)
    stores = [s for s in stores if caller.store_id in (None, s.id)]
    if not stores:
        raise NotFound("no such store for this partner", param="merchant_store_id")
    if len(stores) > 1:
        raise ValidationFailed("merchant_store_id is ambiguous: send merchant_id too", code="ambiguous_store",
                               param="merchant_store_id")  # fmt: skip
    return stores[0]


async def list_settlements(
    code: str, merchant_id: str | None, limit: int, caller: Credential, *, uow: UnitOfWork,
    tenants: TenantRepository,
) -> tuple[Sequence[Settlement], bool]:  # fmt: skip
    """A store's settlements, newest first, and whether there are more."""
    store = await _store_of(caller, code, merchant_id, tenants)
    return await uow.settlements.of_store(store.id, limit)
