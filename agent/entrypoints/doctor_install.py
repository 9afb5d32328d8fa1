"""`mpac-agent doctor` checks of a packaged install (docs/operations.md, "Installing the .deb"): can the
unit's user open each device node, is the stable udev name there, does the agent own its state directory, is
the clock synchronised. Skipped on a machine without the `mpac-agent` system user (a development checkout)."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from agent.entrypoints.doctor import Check
from agent.settings import Settings

UNIT_USER = "mpac-agent"
UNIT_GROUPS = ("dialout", "lp")  # the unit's SupplementaryGroups=
STABLE_PREFIXES = ("/dev/mpac/", "/dev/serial/by-id/", "/dev/serial/by-path/")
UDEV_RULES = Path("/usr/lib/udev/rules.d/61-mpac-agent.rules")


@dataclass(frozen=True, slots=True)
class Account:
    """Who the unit runs as: uid and every gid it has under systemd."""

    name: str
    uid: int
    gids: frozenset[int]


def unit_account() -> Account | None:
    """The unit's user and groups (primary, /etc/group, SupplementaryGroups=); None when not installed."""
    try:
        user = pwd.getpwnam(UNIT_USER)
    except KeyError:
        return None
    gids = {user.pw_gid} | {g.gr_gid for g in grp.getgrall() if UNIT_USER in g.gr_mem}
    for name in UNIT_GROUPS:
        try:
            gids.add(grp.getgrnam(name).gr_gid)
        except KeyError:
            continue
    return Account(UNIT_USER, user.pw_uid, frozenset(gids))


def can_read_write(st: os.stat_result, account: Account) -> bool:
    """Whether `account` may open a node with this owner and mode for reading and writing."""
    if st.st_uid == account.uid:
        need = stat.S_IRUSR | stat.S_IWUSR
    elif st.st_gid in account.gids:
        need = stat.S_IRGRP | stat.S_IWGRP
    else:
        need = stat.S_IROTH | stat.S_IWOTH
    return st.st_mode & need == need


def _owner(st: os.stat_result) -> str:
    try:
        user = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        user = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return f"{user}:{group} {stat.S_IMODE(st.st_mode):04o}"


def check_node(name: str, path: str, account: Account) -> list[Check]:
    """The node of one device: present under a stable name, and open-able by the unit's user."""
    out = []
    if not path.startswith(STABLE_PREFIXES):
        out.append(Check(f"udev:{name}", "warn", f"{path} is not a stable name (it can change on re-plug)",
                         "use /dev/mpac/tty-… or /dev/serial/by-id/… (ls -l /dev/mpac /dev/serial/by-id)"))
    elif not os.path.lexists(path):
        out.append(Check(f"udev:{name}", "fail", f"{path} is missing",
                         "plug the device in; if it is, `udevadm trigger` and check "
                         f"{UDEV_RULES} (ls -l /dev/mpac /dev/serial/by-id shows the names)"))
        return out
    else:
        out.append(Check(f"udev:{name}", "ok", f"{path} -> {os.path.realpath(path)}"))
    try:
        st = os.stat(path)
    except OSError as err:
        return [*out, Check(f"access:{name}", "fail", f"{path}: {err.strerror}",
                            "plug the device in and check the cable")]
    if can_read_write(st, account):
        return [*out, Check(f"access:{name}", "ok", f"{account.name} can open {path} ({_owner(st)})")]
    return [*out, Check(f"access:{name}", "fail", f"{account.name} cannot open {path} ({_owner(st)})",
                        f"the node needs group {' or '.join(UNIT_GROUPS)} with rw: reinstall the package's "
                        "udev rules, then `udevadm trigger`")]


def check_device_nodes(settings: Settings, account: Account) -> list[Check]:
    """check_node for each configured serial or usblp device (TCP printers have no node)."""
    from agent.adapters.devices.config import DevicesConfigError, parse_devices_config  # noqa: PLC0415

    try:
        cfg = parse_devices_config(settings.devices)
    except DevicesConfigError:
        return []  # the devices check already names the bad key
    out: list[Check] = []
    for name in ("printer", "scanner", "card_reader"):
        path = getattr(getattr(cfg, name), "path", None)
        if path:
            out.extend(check_node(name, str(path), account))
    return out


def check_state_owner(state_dir: Path, account: Account) -> Check:
    """The state directory and what is in it belong to the unit's user; others cannot read it."""
    try:
        st = state_dir.stat()
    except OSError as err:
        return Check("state_owner", "fail", f"{state_dir}: {err.strerror}", "reinstall the package")
    fix = f"chown -R {account.name}:{account.name} {state_dir} && chmod 0750 {state_dir}"
    if st.st_uid != account.uid or st.st_mode & (stat.S_IWGRP | stat.S_IRWXO):
        return Check("state_owner", "fail", f"{state_dir} is {_owner(st)}", fix)
    foreign = [p.name for p in state_dir.iterdir() if p.lstat().st_uid != account.uid]
    if foreign:
        return Check("state_owner", "fail", f"not owned by {account.name}: {', '.join(sorted(foreign)[:5])}",
                     f"{fix} (run enroll as: runuser -u {account.name} -- mpac-agent enroll …)")
    return Check("state_owner", "ok", f"{state_dir} is {_owner(st)}")


def time_sync_check(output: str | None) -> Check:
    """From `timedatectl show` output (None: no timedatectl)."""
    if output is None:
        return Check("time_sync", "warn", "timedatectl not available: synchronisation unknown",
                     "make sure the terminal keeps its clock with NTP")
    values = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
    if values.get("NTPSynchronized") == "yes":
        return Check("time_sync", "ok", "clock synchronised (NTP)")
    if values.get("NTP") == "yes":
        return Check("time_sync", "warn", "NTP on but not synchronised yet",
                     "check the network to the time servers (timedatectl timesync-status)")
    return Check("time_sync", "warn", "NTP is off", "timedatectl set-ntp true (needs systemd-timesyncd)")


def check_time_sync() -> Check:
    """time_sync_check over this machine's timedatectl (bounded: a missing D-Bus must not hang doctor)."""
    tool = shutil.which("timedatectl")
    if tool is None:
        return time_sync_check(None)
    try:
        proc = subprocess.run([tool, "show"], capture_output=True, text=True, timeout=5, check=False)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired):
        return time_sync_check(None)
    return time_sync_check(proc.stdout if proc.returncode == 0 else None)


def install_checks(settings: Settings) -> list[Check]:
    """Every check of this module; none on a machine without the unit's user."""
    account = unit_account()
    if account is None:
        return []
    return [*check_device_nodes(settings, account), check_state_owner(settings.agent.state_dir, account),
            check_time_sync()]
