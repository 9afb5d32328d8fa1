"""Partner secret rotation (docs/cloud-api.md#rotating-a-secret) on SQLite and PostgreSQL: `admin partner
rotate-secret | revoke-secret | secrets` against the running gateway's database, requests signed over HTTP."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from cloud.admin.secrets import list_secrets, parse_duration, revoke_secret, rotate_secret
from cloud.cli import build_parser
from cloud.domain.errors import Conflict, NotFound, ValidationFailed
from cloud.testing import PgwClient, Tenant

from ..conftest import Pgw

LIST = "/v1/payment_intents"


def ns(**values: Any) -> argparse.Namespace:
    """The parsed args of an admin command."""
    return argparse.Namespace(**{"api_key": None, "old_expires_in": "24h", "device": None, **values})


async def rotated(pgw: Pgw, tenant: Tenant, expires_in: str = "24h") -> PgwClient:
    """Rotate the tenant's secret; a client signing with the new one."""
    made = await rotate_secret(ns(partner=tenant.partner_id, old_expires_in=expires_in), pgw.deps)
    assert made["api_key"] == tenant.api_key and made["secret_key"] != tenant.secret_key
    return PgwClient(pgw.session, pgw.url, tenant.api_key, made["secret_key"], pgw.clock)


class TestRotateSecret:
    async def test_old_and_new_pass_during_overlap_and_old_fails_after_revoke(
        self, pgw: Pgw, tenant: Tenant, client: PgwClient
    ) -> None:
        """Both secrets authenticate after a rotation; after revoke-secret only the new one does."""
        new = await rotated(pgw, tenant)
        assert (await client.get(LIST)).status == 200
        assert (await new.get(LIST)).status == 200
        done = await revoke_secret(ns(partner=tenant.partner_id), pgw.deps)
        assert done == {"client_partner_id": tenant.partner_id, "api_key": tenant.api_key, "revoked": True}
        old = await client.get(LIST)
        assert (old.status, old.body["error"]["code"]) == (401, "invalid_signature")
        assert (await new.get(LIST)).status == 200

    async def test_old_fails_after_its_expiry(self, pgw: Pgw, tenant: Tenant, client: PgwClient) -> None:
        """--old-expires-in 1h: the old secret works at 59 min and is refused past the hour."""
        new = await rotated(pgw, tenant, "1h")
        pgw.clock.advance(3599)
        assert (await client.get(LIST)).status == 200
        pgw.clock.advance(2)
        assert (await client.get(LIST)).status == 401
        assert (await new.get(LIST)).status == 200

    async def test_a_second_rotation_waits_for_the_first_to_end(self, pgw: Pgw, tenant: Tenant) -> None:
        """While the previous secret is live a new rotation is refused (409); after revoke it is allowed."""
        await rotated(pgw, tenant)
        with pytest.raises(Conflict) as refused:
            await rotate_secret(ns(partner=tenant.partner_id), pgw.deps)
        assert refused.value.code == "previous_secret_live"
        await revoke_secret(ns(partner=tenant.partner_id), pgw.deps)
        await rotated(pgw, tenant)

    async def test_revoke_without_a_previous_secret_is_404(self, pgw: Pgw, tenant: Tenant) -> None:
        """Nothing to revoke is a clear error, and the current secret still works."""
        with pytest.raises(NotFound) as missing:
            await revoke_secret(ns(partner=tenant.partner_id), pgw.deps)
        assert missing.value.code == "no_previous_secret"

    async def test_unknown_partner_and_bad_durations_are_refused(self, pgw: Pgw, tenant: Tenant) -> None:
        """An unknown partner is 404; a duration that is not 1 s..30 d is a validation error."""
        with pytest.raises(NotFound):
            await rotate_secret(ns(partner="cp_nobody"), pgw.deps)
        for bad in ("", "0", "-5", "1w", "24 h", "31d"):
            with pytest.raises(ValidationFailed):
                await rotate_secret(ns(partner=tenant.partner_id, old_expires_in=bad), pgw.deps)
        assert [parse_duration(t) for t in ("90", "90s", "30m", "24h", "7d")] == [90, 90, 1800, 86400, 604800]


class TestListSecrets:
    async def test_last_use_per_secret_and_never_the_secret(
        self, pgw: Pgw, tenant: Tenant, client: PgwClient
    ) -> None:
        """The list shows current and previous with their own last use; no secret or hash is printed."""
        new = await rotated(pgw, tenant)
        before = await list_secrets(ns(partner=tenant.partner_id), pgw.deps)
        listed = [(s["secret"], s["last_used_at"]) for s in before["data"]]
        assert listed == [("current", None), ("previous", None)]
        assert (await client.get(LIST)).status == 200
        pgw.clock.advance(120)
        assert (await new.get(LIST)).status == 200
        after = (await list_secrets(ns(partner=tenant.partner_id), pgw.deps))["data"]
        used = {s["secret"]: s["last_used_at"] for s in after}
        assert used["current"] == int(pgw.clock()) and used["previous"] == int(pgw.clock()) - 120
        assert after[1]["expires_at"] is not None and after[0]["expires_at"] is None
        text = repr(after)
        assert tenant.secret_key not in text and new.secret_key not in text and "hash" not in text

    async def test_commands_are_registered(self) -> None:
        """`mpac-pgw admin partner rotate-secret|revoke-secret|secrets` parse."""
        parser = build_parser()
        for path in (["rotate-secret", "--old-expires-in", "7d"], ["revoke-secret"], ["secrets"]):
            args = parser.parse_args(["admin", "partner", path[0], "--partner", "cp_x", *path[1:]])
            assert args.admin_run in (rotate_secret, revoke_secret, list_secrets)
