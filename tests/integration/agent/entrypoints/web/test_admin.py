"""AdminGate over a real enrollment record and a real agent database: no default password, lockout."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from agent.adapters.secrets import CREDENTIAL_FILE, EnrolledDevice, SecretStore, hash_password
from agent.adapters.store import AgentDatabase
from agent.adapters.store.admin_lockout import AdminAttempts
from agent.entrypoints.web.admin import LOCK_S, MAX_FAILURES, AdminGate, AdminRefused

MakeGate = Callable[..., AdminGate]


class Clock:
    """A settable wall clock in unix ms."""

    def __init__(self) -> None:
        self.now = 1_700_000_000_000

    def __call__(self) -> int:
        return self.now


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[AgentDatabase]:
    """A migrated agent database in a temp folder."""
    db = await AgentDatabase.open(tmp_path / "agent.sqlite3")
    yield db
    await db.close()


@pytest.fixture
def make_gate(tmp_path: Path, database: AgentDatabase) -> MakeGate:
    """`make_gate(clock=...)`: an AdminGate over tmp_path's enrollment record and the database."""

    def make(clock: Callable[[], int] | None = None) -> AdminGate:
        return AdminGate(tmp_path, AdminAttempts(database), clock or Clock())

    return make


RIGHT = "right-pass"


def enroll(folder: Path) -> None:
    """Store an enrollment record with the hash of RIGHT."""
    device = EnrolledDevice("dev_1", "pk_1", "sk_1", admin_password_hash=hash_password(RIGHT))
    SecretStore(folder).save(device)


async def refused(gate: AdminGate, password: str | None) -> AdminRefused:
    """The refusal raised for `password`."""
    with pytest.raises(AdminRefused) as info:
        await gate.check(password)
    return info.value


class TestAdminGate:
    """The per-device admin password."""

    async def test_not_enrolled_means_disabled(self, tmp_path: Path, make_gate: MakeGate) -> None:
        """No enrollment record: disabled with a message, and every password (even empty) is refused 403."""
        gate = make_gate()
        available = await gate.availability()
        assert not available.enabled and "not enrolled" in (available.message or "")
        for password in ("", "admin", "password"):
            assert (await refused(gate, password)).status == 403

    async def test_right_and_wrong_password(self, tmp_path: Path, make_gate: MakeGate) -> None:
        """The enrolled password passes; a wrong or empty one is refused 401."""
        enroll(tmp_path)
        gate = make_gate()
        await gate.check(RIGHT)
        assert (await refused(gate, "right-pas")).code == "admin_password_wrong"
        assert (await refused(gate, "")).code == "admin_password_required"

    async def test_lockout_after_repeated_failures(self, tmp_path: Path, make_gate: MakeGate) -> None:
        """After MAX_FAILURES wrong passwords even the right one waits LOCK_S (429), then works again."""
        enroll(tmp_path)
        clock = Clock()
        gate = make_gate(clock)
        for _ in range(MAX_FAILURES):
            await refused(gate, "guess")
        locked = await refused(gate, RIGHT)
        assert (locked.status, locked.code) == (429, "admin_locked")
        assert locked.retry_after is not None and 0 < locked.retry_after <= LOCK_S + 1
        clock.now += (LOCK_S + 1) * 1000
        await gate.check(RIGHT)

    async def test_damaged_record_disables_admin(self, tmp_path: Path, make_gate: MakeGate) -> None:
        """A record that is not JSON disables admin actions with a message instead of crashing."""
        (tmp_path / CREDENTIAL_FILE).write_text("{not json")
        available = await make_gate().availability()
        assert not available.enabled and "unreadable" in (available.message or "")

    async def test_record_without_hash_is_not_a_blank_password(self, tmp_path: Path,
                                                               make_gate: MakeGate) -> None:
        """An old record with no admin_password_hash never accepts an empty password."""
        enroll(tmp_path)
        record = json.loads((tmp_path / CREDENTIAL_FILE).read_text())
        record["admin_password_hash"] = ""
        (tmp_path / CREDENTIAL_FILE).write_text(json.dumps(record))
        gate = make_gate()
        assert (await refused(gate, "")).status == 403
