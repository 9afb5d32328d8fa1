"""device.activated (docs/cloud-api.md#webhooks): written to the outbox with the enrollment itself, so an
activation is announced exactly once and a refused one (or the loser of a race for one code) never; and the
sweeper's purge of finished outbox events (docs/operations.md#webhooks)."""

from __future__ import annotations

import asyncio

from cloud.api.app import sweep_once
from cloud.api.keys import SETTINGS
from cloud.service import webhooks as wh
from cloud.testing import Tenant

from ..conftest import Pgw
from ..helpers import rows
from ..sync.helpers import activate, new_code
from ..test_webhooks_outbound import Receiver, _endpoint, dispatcher, pgw, receiver, verify_standard_webhook

__all__ = ["dispatcher", "pgw", "receiver"]  # the outbound tests' fixtures, used here too


class TestDeviceActivated:
    async def test_an_activation_is_announced_once_and_signed(
        self, pgw: Pgw, tenant: Tenant, receiver: Receiver, dispatcher: wh.Dispatcher
    ) -> None:
        """One device.activated with the device's ids, verified by the independent checker."""
        endpoint = await _endpoint(pgw, tenant, receiver.url)
        resp = await activate(pgw, {"code": await new_code(pgw, tenant.store_id), "serial_number": "SN-9",
                                    "model": "P2"})  # fmt: skip
        assert resp.status == 201
        assert await dispatcher.deliver_due() == 1
        assert await dispatcher.deliver_due() == 0
        [event] = receiver.events()
        assert event["type"] == "device.activated"
        obj = event["data"]["object"]
        assert (obj["object"], obj["device_id"], obj["store_id"], obj["serial_number"], obj["status"]) == (
            "device", resp.body["device_id"], tenant.store_id, "SN-9", "active")
        assert "secret_key" not in obj and "api_key" not in obj
        assert verify_standard_webhook(endpoint.secret, *receiver.got[0])

    async def test_the_loser_of_a_race_for_one_code_announces_nothing(
        self, pgw: Pgw, tenant: Tenant, receiver: Receiver, dispatcher: wh.Dispatcher
    ) -> None:
        """Two activations of one code at once: one 201, one 409, and exactly one event in the outbox."""
        await _endpoint(pgw, tenant, receiver.url)
        code = await new_code(pgw, tenant.store_id)
        both = await asyncio.gather(*(activate(pgw, {"code": code, "serial_number": s, "model": "P2"})
                                      for s in ("A", "B")))  # fmt: skip
        assert sorted(r.status for r in both) == [201, 409]
        assert rows(pgw.db_path, "SELECT type FROM webhook_events") == [("device.activated",)]
        assert await dispatcher.deliver_due() == 1


class TestOutboxPurge:
    async def test_the_sweeper_forgets_finished_events_past_retention_only(
        self, pgw: Pgw, tenant: Tenant, receiver: Receiver, dispatcher: wh.Dispatcher
    ) -> None:
        """A delivered event and its log go after the retention; a younger one and a pending one stay."""
        await _endpoint(pgw, tenant, receiver.url)
        settings = pgw.app[SETTINGS]
        for serial in ("OLD", "PENDING"):
            resp = await activate(pgw, {"code": await new_code(pgw, tenant.store_id), "serial_number": serial,
                                        "model": "P2"})  # fmt: skip
            assert resp.status == 201
            if serial == "OLD":
                assert await dispatcher.deliver_due() == 1
        receiver.script = [500]
        assert await dispatcher.deliver_due() == 1  # PENDING failed once: retried later, still pending
        await sweep_once(pgw.deps, settings)
        assert len(rows(pgw.db_path, "SELECT id FROM webhook_events")) == 2  # not old enough yet
        pgw.clock.advance(settings.webhook_retention_seconds + 1)
        await sweep_once(pgw.deps, settings)
        left = rows(pgw.db_path, "SELECT d.status FROM webhook_events e JOIN webhook_deliveries d "
                                 "ON d.event_id = e.id")  # fmt: skip
        assert left == [("pending",)]
        assert len(rows(pgw.db_path, "SELECT id FROM webhook_attempts")) == 1  # the pending one's log
