"""The .deb in a debootstrap Debian 12 root: user and groups, owners and modes, `mpac-agent --version` with no
network, an upgrade that keeps an edited conffile, remove that keeps the state, purge that leaves nothing."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.packaging.conftest import NEWER_VERSION, fresh_root, in_root, install

# path: (owner, group, mode)
EXPECTED = {
    "usr/bin/mpac-agent": ("root", "root", 0o755),
    "opt/mpac-agent/bin/mpac-agent": ("root", "root", 0o755),
    "usr/lib/systemd/system/mpac-agent.service": ("root", "root", 0o644),
    "usr/lib/sysusers.d/mpac-agent.conf": ("root", "root", 0o644),
    "usr/lib/udev/rules.d/61-mpac-agent.rules": ("root", "root", 0o644),
    "usr/lib/mpac-agent/defaults.toml": ("root", "root", 0o644),
    "etc/mpac-agent/agent.toml": ("root", "root", 0o644),
    "var/lib/mpac-agent": ("mpac-agent", "mpac-agent", 0o750),
}
# Bookkeeping that changes whatever is installed, not files of ours.
IGNORED = ("proc/", "dev/", "sys/", "run/", "tmp/", "var/lib/dpkg/", "var/log/", "var/cache/", "var/lib/apt/",
           "var/cache/debconf/")


def names(root: Path, db: str) -> dict[int, str]:
    """uid or gid → name, from the root's passwd or group file."""
    rows = (line.split(":") for line in (root / "etc" / db).read_text(encoding="utf-8").splitlines())
    return {int(row[2]): row[0] for row in rows if len(row) > 2}


def tree(root: Path) -> set[str]:
    """Every path under the root, relative, minus bookkeeping."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            rel = os.path.relpath(os.path.join(dirpath, name), root)
            if not rel.startswith(IGNORED) and not rel.endswith("-"):  # passwd-, group-: shadow-utils backups
                found.add(rel)
    return found


@pytest.fixture(scope="module")
def installed(rootfs_tar: Path, deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One root with the .deb installed, shared by the read-only checks."""
    root = fresh_root(rootfs_tar, tmp_path_factory.mktemp("installed") / "root")
    install(root, deb)
    yield root
    shutil.rmtree(root, ignore_errors=True)


class TestInstall:
    def test_user_and_groups(self, installed: Path) -> None:
        """The system user mpac-agent exists, has no login shell and is in dialout and lp."""
        passwd = in_root(installed, "getent", "passwd", "mpac-agent").stdout.strip().split(":")
        assert int(passwd[2]) < 1000
        assert (passwd[5], passwd[6]) == ("/var/lib/mpac-agent", "/usr/sbin/nologin")
        groups = in_root(installed, "id", "-nG", "mpac-agent").stdout.split()
        assert {"mpac-agent", "dialout", "lp"} <= set(groups)

    def test_owners_and_modes(self, installed: Path) -> None:
        """Program files are root's and not writable by others; the state directory is the agent's, 0750."""
        users, groups = names(installed, "passwd"), names(installed, "group")
        for rel, (owner, group, mode) in EXPECTED.items():
            st = (installed / rel).stat()
            found = (users[st.st_uid], groups[st.st_gid], stat.S_IMODE(st.st_mode))
            assert found == (owner, group, mode), rel
        writable = [str(p) for p in (installed / "opt" / "mpac-agent").rglob("*")
                    if not p.is_symlink() and p.stat().st_mode & (stat.S_IWGRP | stat.S_IWOTH)]
        assert writable == []

    def test_version_runs_with_no_network(self, installed: Path, deb: Path) -> None:
        """`mpac-agent --version` runs in a namespace with no network and prints the package version."""
        proc = in_root(installed, "/usr/bin/mpac-agent", "--version", net=False)
        assert proc.stdout.split() == ["mpac-agent", deb.name.split("_")[1]]

    def test_conffile_and_unit_enabled(self, installed: Path) -> None:
        """agent.toml is a conffile and the unit is enabled for the next boot (not started in a chroot)."""
        conffiles = in_root(installed, "dpkg-query", "-W", "-f=${Conffiles}", "mpac-agent").stdout
        assert "/etc/mpac-agent/agent.toml" in conffiles
        wants = installed / "etc" / "systemd" / "system" / "multi-user.target.wants" / "mpac-agent.service"
        assert wants.is_symlink()


class TestUpgradeAndPurge:
    def test_upgrade_keeps_edited_conffile(self, root: Path, deb: Path, newer_deb: Path) -> None:
        """An edited agent.toml survives an upgrade whose shipped agent.toml also changed (no prompt)."""
        installed = root
        install(installed, deb)
        config = installed / "etc" / "mpac-agent" / "agent.toml"
        edited = config.read_text(encoding="utf-8") + '\n[agent]\nserial = "T-EDITED"\n'
        config.write_text(edited, encoding="utf-8")
        (installed / "var" / "lib" / "mpac-agent" / "agent.sqlite3").write_bytes(b"")
        install(installed, newer_deb)
        version = in_root(installed, "dpkg-query", "-W", "-f=${Version}", "mpac-agent").stdout
        assert version == NEWER_VERSION
        assert config.read_text(encoding="utf-8") == edited
        assert (installed / "var" / "lib" / "mpac-agent" / "agent.sqlite3").exists()

    def test_remove_keeps_state_purge_leaves_nothing(self, root: Path, deb: Path) -> None:
        """remove keeps /var/lib/mpac-agent; purge deletes it, the user and the conffile: nothing is left."""
        before = tree(root)
        install(root, deb)
        state = root / "var" / "lib" / "mpac-agent"
        (state / "agent.sqlite3").write_bytes(b"sales")
        in_root(root, "dpkg", "--remove", "mpac-agent")
        assert (state / "agent.sqlite3").read_bytes() == b"sales"
        in_root(root, "dpkg", "--purge", "mpac-agent")
        left = sorted(tree(root) - before)
        assert left == []
        for db in ("passwd", "group", "shadow", "gshadow"):
            assert "mpac" not in (root / "etc" / db).read_text(encoding="utf-8"), db
