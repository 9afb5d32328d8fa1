"""`mpac-agent rotate-secret` against a real gateway on loopback (SQLite and PostgreSQL): the agent's stored,
encrypted secret is replaced, and a lost answer is recovered by running it again."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.adapters.secrets import SecretStore
from agent.entrypoints.cli import build_parser
from agent.entrypoints.enroll import enroll
from agent.entrypoints.rotate_secret import RotationError, rotate_and_store
from cloud.testing import PgwClient, Tenant

from ..conftest import Pgw
from ..sync.helpers import new_code


async def enrolled(pgw: Pgw, tenant: Tenant, tmp_path: Path) -> SecretStore:
    """An agent secret store holding a fresh enrollment with this gateway."""
    store = SecretStore(tmp_path / "state")
    await enroll(store, pgw.url, await new_code(pgw, tenant.store_id), "SN-R", "P2")
    return store


def signed_as(pgw: Pgw, store: SecretStore) -> PgwClient:
    """A client signing with what the store holds now."""
    device = store.load()
    assert device is not None
    return PgwClient(pgw.session, pgw.url, device.api_key, device.secret_key, pgw.clock)


class TestAgentRotateSecret:
    async def test_stores_the_new_secret_encrypted(self, pgw: Pgw, tenant: Tenant, tmp_path: Path) -> None:
        """Afterwards the store holds a new secret (not in the file in the clear) that the cloud takes."""
        store = await enrolled(pgw, tenant, tmp_path)
        before = store.load()
        assert before is not None
        device, got = await rotate_and_store(store, clock=pgw.clock)
        assert device.secret_key == got.secret_key != before.secret_key
        assert got.secret_key.encode() not in store.path.read_bytes()
        show = f"/v1/devices/{device.device_id}"
        assert (await signed_as(pgw, store).get(show)).status == 200

    async def test_a_lost_answer_is_recovered_by_running_it_again(
        self, pgw: Pgw, tenant: Tenant, tmp_path: Path
    ) -> None:
        """The cloud rotated but the answer never reached the terminal: the next run gets that same secret."""
        store = await enrolled(pgw, tenant, tmp_path)
        old = signed_as(pgw, store)
        device = store.load()
        assert device is not None
        lost = await old.post(f"/v1/devices/{device.device_id}/rotate-secret")
        assert lost.status == 200
        pgw.clock.advance(1)
        _, got = await rotate_and_store(store, clock=pgw.clock)
        assert got.secret_key == lost.body["secret_key"]

    async def test_a_stale_secret_is_a_clear_error(self, pgw: Pgw, tenant: Tenant, tmp_path: Path) -> None:
        """Once the lost secret was used elsewhere, the command fails with a message and stores nothing."""
        store = await enrolled(pgw, tenant, tmp_path)
        device = store.load()
        assert device is not None
        lost = await signed_as(pgw, store).post(f"/v1/devices/{device.device_id}/rotate-secret")
        used = PgwClient(pgw.session, pgw.url, device.api_key, lost.body["secret_key"], pgw.clock)
        assert (await used.get(f"/v1/devices/{device.device_id}")).status == 200
        pgw.clock.advance(1)
        with pytest.raises(RotationError, match="Re-enroll"):
            await rotate_and_store(store, clock=pgw.clock)
        assert store.load() == device

    def test_the_command_is_registered(self) -> None:
        """`mpac-agent rotate-secret` parses."""
        assert build_parser().parse_args(["rotate-secret"]).handler is not None
