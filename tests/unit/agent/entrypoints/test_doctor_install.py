"""agent.entrypoints.doctor_install: device node access for the unit's user, stable udev names, the state
directory's owner and mode, and time synchronisation, on real files and modes in a temp folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.entrypoints.doctor_install import (
    Account,
    can_read_write,
    check_node,
    check_state_owner,
    time_sync_check,
)

ME = os.getuid()
OTHER_UID, OTHER_GID = 64000, 64000
AGENT = Account("mpac-agent", ME, frozenset({os.getgid()}))
STRANGER = Account("mpac-agent", OTHER_UID, frozenset({OTHER_GID}))


def node(tmp_path: Path, mode: int) -> Path:
    path = tmp_path / "ttyUSB0"
    path.write_bytes(b"")
    path.chmod(mode)
    return path


class TestCanReadWrite:
    def test_owner_bits(self, tmp_path: Path) -> None:
        """The owner needs rw in the owner bits."""
        assert can_read_write(node(tmp_path, 0o600).stat(), AGENT)
        assert not can_read_write(node(tmp_path, 0o400).stat(), AGENT)

    def test_group_bits(self, tmp_path: Path) -> None:
        """A member of the node's group needs rw in the group bits (dialout 0660)."""
        st = node(tmp_path, 0o660).stat()
        member = Account("mpac-agent", OTHER_UID, frozenset({st.st_gid}))
        assert can_read_write(st, member)
        assert not can_read_write(node(tmp_path, 0o640).stat(), member)

    def test_others_bits(self, tmp_path: Path) -> None:
        """Anyone else is judged by the other bits."""
        assert not can_read_write(node(tmp_path, 0o660).stat(), STRANGER)
        assert can_read_write(node(tmp_path, 0o666).stat(), STRANGER)


class TestCheckNode:
    def test_missing_stable_node_names_it_and_the_fix(self) -> None:
        """A configured /dev/mpac name that is absent: fail, naming the node and udevadm."""
        checks = check_node("card_reader", "/dev/mpac/does-not-exist", AGENT)
        assert [(c.name, c.status) for c in checks] == [("udev:card_reader", "fail")]
        assert "/dev/mpac/does-not-exist" in checks[0].detail and "udevadm trigger" in (checks[0].hint or "")

    def test_unstable_name_warns(self, tmp_path: Path) -> None:
        """A raw node path works but is warned about; access is still checked."""
        checks = check_node("scanner", str(node(tmp_path, 0o600)), AGENT)
        assert [(c.name, c.status) for c in checks] == [("udev:scanner", "warn"), ("access:scanner", "ok")]

    def test_no_permission_is_a_failure_with_owner_and_mode(self, tmp_path: Path) -> None:
        """A node the unit's user cannot open: fail, showing owner, group and mode."""
        checks = check_node("printer", str(node(tmp_path, 0o600)), STRANGER)
        assert checks[-1].status == "fail" and "0600" in checks[-1].detail


class TestStateOwner:
    def test_owned_and_private_is_ok(self, tmp_path: Path) -> None:
        """Owner is the agent, mode 0750: ok."""
        tmp_path.chmod(0o750)
        assert check_state_owner(tmp_path, AGENT).status == "ok"

    def test_others_can_read_fails(self, tmp_path: Path) -> None:
        """A world-readable state directory fails with the chmod fix."""
        tmp_path.chmod(0o755)
        check = check_state_owner(tmp_path, AGENT)
        assert check.status == "fail" and "chmod 0750" in (check.hint or "")

    def test_foreign_file_inside_fails(self, tmp_path: Path) -> None:
        """A file in it owned by someone else (enroll run as root) fails, naming the file."""
        tmp_path.chmod(0o750)
        (tmp_path / "device_credential.json").write_text("{}", encoding="utf-8")
        check = check_state_owner(tmp_path, STRANGER)
        assert check.status == "fail"
        if ME == 0:
            os.chown(tmp_path, OTHER_UID, OTHER_GID)
            check = check_state_owner(tmp_path, STRANGER)
            assert check.status == "fail" and "device_credential.json" in check.detail
            assert "runuser -u mpac-agent" in (check.hint or "")


class TestTimeSync:
    @pytest.mark.parametrize(("output", "status"), [
        ("NTP=yes\nNTPSynchronized=yes\n", "ok"),
        ("NTP=yes\nNTPSynchronized=no\n", "warn"),
        ("NTP=no\nNTPSynchronized=no\n", "warn"),
        (None, "warn"),
    ])
    def test_from_timedatectl(self, output: str | None, status: str) -> None:
        """Synchronised is ok; NTP off, not yet synchronised or no timedatectl are warnings."""
        assert time_sync_check(output).status == status
