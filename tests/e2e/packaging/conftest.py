"""The packaging fixtures: the .deb built once per session, a Debian 12 root from a cached debootstrap
tarball, and helpers to run commands inside that root. Everything here needs root and Debian tools; a test
that cannot have them is skipped with the exact reason (CI machines are root and install them, see
scripts/system-deps.sh).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
CACHE = Path(os.environ.get("MPAC_TEST_CACHE", Path.home() / ".cache" / "mpac-agent-tests"))
SUITE = "bookworm"
# python3 and systemd (as PID 1 for the boot test) are what the .deb depends on; nothing else is needed.
INCLUDE = "python3,systemd,systemd-sysv"
NEWER_VERSION = "0.1.0+test1"


def require(*tools: str) -> None:
    """Skip, naming what is missing, unless this is root and every tool is on PATH."""
    if os.geteuid() != 0:
        pytest.skip("needs root (chroot, debootstrap, systemd-nspawn); CI runs as root")
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"missing tools: {' '.join(missing)} (bash scripts/system-deps.sh installs them)")


def run(*cmd: str | Path, timeout: float = 300, check: bool = True,
        **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a command, text output captured; fail with its output when it fails."""
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout,
                          check=False, **kwargs)  # type: ignore[call-overload]
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} exited {proc.returncode}\nstdout: {proc.stdout[-3000:]}\n"
                             f"stderr: {proc.stderr[-3000:]}")
    return proc


def mirror() -> str:
    """The Debian mirror apt on this machine already uses."""
    for source in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for line in source.read_text(encoding="utf-8").splitlines():
            if line.startswith("URIs:") and "security" not in line:
                return line.split()[1]
    return "http://deb.debian.org/debian"


def in_root(root: Path, *cmd: str, net: bool = True, timeout: float = 300,
            check: bool = True) -> subprocess.CompletedProcess[str]:
    """`cmd` chrooted into `root`, with /proc and /dev/pts mounted in a private mount namespace."""
    mounts = (f"mount -t proc proc {root}/proc && mount -t devpts devpts {root}/dev/pts "
              f"&& exec chroot {root} \"$@\"")
    flags = ["--mount", "--fork"] + ([] if net else ["--net"])
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive",
           "HOME": "/root"}
    return run("unshare", *flags, "sh", "-c", mounts, "sh", *cmd, timeout=timeout, check=check, env=env)


@pytest.fixture(scope="session")
def deb() -> Path:
    """dist/mpac-agent_<version>_<arch>.deb, built once per session by packaging/build-deb."""
    require("dpkg-deb", "strip", "git")
    out = CACHE / "dist"
    shutil.rmtree(out, ignore_errors=True)
    proc = run("bash", REPO / "packaging" / "build-deb", "--out", out, timeout=600)
    return Path(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def newer_deb(deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same package as a newer version whose shipped conffile also changed (dpkg's hardest case)."""
    work = tmp_path_factory.mktemp("newer")
    tree = work / "tree"
    run("dpkg-deb", "-R", deb, tree)
    control = tree / "DEBIAN" / "control"
    lines = [f"Version: {NEWER_VERSION}" if line.startswith("Version:") else line
             for line in control.read_text(encoding="utf-8").splitlines()]
    control.write_text("\n".join(lines) + "\n", encoding="utf-8")
    conffile = tree / "etc" / "mpac-agent" / "agent.toml"
    conffile.write_text(conffile.read_text(encoding="utf-8") + "# (a newer example)\n", encoding="utf-8")
    md5sums = tree / "DEBIAN" / "md5sums"
    if md5sums.exists():
        md5sums.unlink()  # regenerated below, without the conffile (dpkg tracks those itself)
        files = [p.relative_to(tree) for p in sorted(tree.rglob("*")) if p.is_file() and not p.is_symlink()]
        entries = [f"{hashlib.md5((tree / rel).read_bytes()).hexdigest()}  {rel}"  # noqa: S324 -- dpkg's format
                   for rel in files if rel.parts[0] not in ("DEBIAN", "etc")]
        md5sums.write_text("\n".join(entries) + "\n", encoding="utf-8")
    target = work / f"mpac-agent_{NEWER_VERSION}_{deb.name.rsplit('_', 1)[1]}"
    run("dpkg-deb", "-Zgzip", "-z1", "--root-owner-group", "-b", tree, target, timeout=600)
    return target


@pytest.fixture(scope="session")
def rootfs_tar() -> Path:
    """A debootstrap Debian 12 minbase root as a tarball, cached between runs (about 47 s to make)."""
    require("debootstrap", "tar", "unshare", "chroot")
    key = hashlib.sha256(f"{SUITE} {INCLUDE} {mirror()}".encode()).hexdigest()[:12]
    tarball = CACHE / f"{SUITE}-minbase-{key}.tar"
    if tarball.exists():
        return tarball
    CACHE.mkdir(parents=True, exist_ok=True)
    build = CACHE / f"build-{key}"
    shutil.rmtree(build, ignore_errors=True)
    run("debootstrap", "--variant=minbase", f"--include={INCLUDE}", SUITE, build, mirror(), timeout=900)
    (build / "etc" / "machine-id").write_text("", encoding="utf-8")  # each boot gets its own
    partial = tarball.with_suffix(".partial")
    run("tar", "-C", build, "--numeric-owner", "-cf", partial, ".", timeout=600)
    partial.rename(tarball)
    shutil.rmtree(build, ignore_errors=True)
    return tarball


def fresh_root(rootfs_tar: Path, where: Path) -> Path:
    """Unpack the cached root into `where`, with a policy-rc.d that keeps services from starting."""
    where.mkdir(parents=True)
    run("tar", "-C", where, "--numeric-owner", "-xpf", rootfs_tar, timeout=600)
    policy = where / "usr" / "sbin" / "policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n", encoding="utf-8")
    policy.chmod(0o755)
    return where


def install(root: Path, package: Path) -> subprocess.CompletedProcess[str]:
    """apt-get install the .deb inside the root (keeping an edited conffile on upgrade, never prompting)."""
    shutil.copy(package, root / "tmp" / package.name)
    inside = f"/{Path('tmp', package.name)}"  # the root's own /tmp, not this machine's
    return in_root(root, "apt-get", "install", "-y", "-q", "--no-install-recommends",
                   "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold",
                   inside)


@pytest.fixture
def root(rootfs_tar: Path, tmp_path: Path) -> Iterator[Path]:
    """A fresh Debian 12 root for one test, removed afterwards."""
    path = fresh_root(rootfs_tar, tmp_path / "root")
    yield path
    shutil.rmtree(path, ignore_errors=True)

