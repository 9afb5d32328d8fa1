"""`mpac-agent doctor [--json]`: every check a field technician needs, one line each with a hint.

Severity rule: FAIL = the terminal cannot do its job as configured (take or store sales, reach a configured
device, be trusted by the cloud) → exit 1. WARN = degraded but sales go on (cloud unreachable: cash and card
work offline; low disk; migrations applied at next start; queue nearing a cap) → exit 0.
Read-only: the database is opened with mode=ro, devices are checked for existence and permission only (the
running agent holds them open); live device health comes from the running agent's /api/status when it is up
and is the agent of THIS configuration (same state directory). Every line is about the configuration checked:
the clock is compared with the cloud only when the cloud answered now.
Secrets are never printed: enrollment is reported by device id only.
"""

from __future__ import annotations

import argparse
import asyncio
import email.utils
import json
import os
import shutil
import socket
import sqlite3
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agent.adapters.store.database import migrations as migration_files
from agent.adapters.store.views import integrity
from agent.entrypoints.status import collect_status, other_agent_note, own_agent_status
from agent.settings import Settings, SettingsError, cloud_trust
from sync.errors import CloudNotTrusted, CloudUnreachable
from sync.http import CloudReply, CloudSession
from sync.tls import CloudTrust

MIN_FREE_FAIL = 16 * 1024 * 1024
MIN_FREE_WARN = 256 * 1024 * 1024
CLOCK_WARN_S = 60
CLOCK_FAIL_S = 300  # the HMAC window (docs/cloud-api.md): beyond it the cloud refuses every signed request
HEALTH_TIMEOUT_S = 3.0
CAP_WARN = 0.8


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the report: status is "ok", "warn" or "fail"."""

    name: str
    status: str
    detail: str
    hint: str | None = None


def check_state_dir(settings: Settings) -> Check:
    """The state directory exists, is writable (a real write + fsync) and has free space."""
    folder = settings.agent.state_dir
    probe = folder / f".doctor-{os.getpid()}"
    try:
        with probe.open("wb") as fh:
            fh.write(b"mpac-agent doctor")
            fh.flush()
            os.fsync(fh.fileno())
        probe.unlink()
        free = shutil.disk_usage(folder).free
    except OSError as err:
        return Check("state_dir", "fail", f"{folder}: {err.strerror or err}",
                     f"create it and give the agent user write access: install -d -o mpac-agent {folder}")
    mib = free // (1024 * 1024)
    if free < MIN_FREE_FAIL:
        return Check("state_dir", "fail", f"{folder}: only {mib} MiB free", "free disk space now")
    if free < MIN_FREE_WARN:
        return Check("state_dir", "warn", f"{folder}: {mib} MiB free", "free disk space soon")
    return Check("state_dir", "ok", f"{folder} writable, {mib} MiB free")


def check_database(settings: Settings) -> Check:
    """The database opens read-only, passes quick_check and its migrations match this version."""
    path = settings.agent.db_path
    if not path.exists():
        return Check("database", "warn", f"{path} does not exist yet",
                     "it is created on the first `mpac-agent run`")
    try:
        quick, applied = integrity(path)
    except sqlite3.Error as err:
        return Check("database", "fail", f"{path}: {err}", "restore the database from backup or call support")
    if quick != ["ok"]:
        return Check("database", "fail", f"integrity: {'; '.join(quick[:3])}",
                     "call support before taking sales")
    known = {name for name, _sql in migration_files()}
    unknown = sorted(set(applied) - known)
    if unknown:
        return Check("database", "fail", f"written by a newer version ({', '.join(unknown)})",
                     "install that version again: downgrades are not supported")
    pending = sorted(known - set(applied))
    if pending:
        return Check("database", "warn", f"{len(pending)} migrations pending ({pending[0]}…)",
                     "applied automatically at the next start of the agent")
    return Check("database", "ok", f"{path} ok, {len(applied)} migrations current")


def check_enrollment(settings: Settings, credentials_dir: Path | None) -> tuple[Check, str | None]:
    """The credential store decrypts (only the device id is shown); returns the cloud URL to probe."""
    from agent.adapters.secrets import resolve_credential  # noqa: PLC0415 -- heavy import, only here

    found = resolve_credential(settings, credentials_dir)
    if isinstance(found, str):
        hint = ("enroll: mpac-agent enroll --cloud URL --code CODE" if found.startswith("not enrolled")
                else "the credential store cannot be read: re-enroll with --force or restore the machine key")
        return Check("enrollment", "fail", found, hint), None
    cred, url = found
    return Check("enrollment", "ok", f"device {cred.device_id}, cloud {url}"), url


@dataclass(frozen=True, slots=True)
class CloudTime:
    """The cloud's clock as measured NOW (offset_s), or why there is none to compare (reason)."""

    offset_s: float | None
    reason: str | None = None


def _date_offset(date: str | None, started: float) -> float | None:
    if not date:
        return None
    try:
        return email.utils.parsedate_to_datetime(date).timestamp() - (started + time.time()) / 2
    except (TypeError, ValueError):
        return None


_TLS_HINTS = {
    "unknown_ca": "a private CA? set [cloud] ca_file to its PEM file; otherwise someone may be intercepting",
    "expired": "the cloud's certificate must be renewed by its operator; also check this terminal's clock",
    "not_yet_valid": "check this terminal's clock (enable NTP)",
    "wrong_host": "check [cloud] url / the enrolled URL against the name in the cloud's certificate",
    "pin_mismatch": "the cloud's key changed: add its pin to [cloud] pins only if the operator confirms it",
    "ca_file": "fix [cloud] ca_file: it must be a readable PEM file",
    "plain_http": "use the cloud's https:// URL (re-enroll with it)",
}


async def _health(url: str, trust: CloudTrust) -> CloudReply:
    async with CloudSession(url, timeout_s=HEALTH_TIMEOUT_S, trust=trust) as session:
        return await session.request("GET", "/health", signed=False)


def check_cloud(url: str | None, trust: CloudTrust | None = None) -> tuple[Check, CloudTime]:
    """GET /health through the agent's one client (same TLS verification as sync), with a short timeout; the
    clock offset only from an answer received now (its Date). A certificate that does not verify fails."""
    if url is None:
        return Check("cloud", "warn", "not checked (not enrolled)"), CloudTime(None, "not enrolled")
    started = time.time()
    try:
        reply = asyncio.run(_health(url, trust or CloudTrust()))
    except CloudNotTrusted as err:
        return (Check("cloud", "fail", f"{url}: {err}", _TLS_HINTS.get(err.reason, "see docs/operations.md")),
                CloudTime(None, "certificate not trusted"))
    except CloudUnreachable as err:
        return (Check("cloud", "warn", f"{url} unreachable ({err})",
                      "cash and card sales work offline; check the network, DNS and firewall"),
                CloudTime(None, "unreachable"))
    offset = _date_offset(reply.date, started)
    if reply.status != 200:  # it answered: reachable, and its Date header is still its clock
        return Check("cloud", "warn", f"{url}/health answered HTTP {reply.status}"), CloudTime(offset,
                                                                                             "no Date header")
    via = "verified HTTPS" if url.startswith("https://") else "plain HTTP, loopback"
    return Check("cloud", "ok", f"{url} reachable ({via})"), CloudTime(offset, "no Date header")


def check_clock(cloud: CloudTime, last_sync_offset_ms: Any = None) -> Check:
    """The clock is plausible, and within the signing window of the cloud's when the cloud was reached now.

    An offset recorded at the last sync is only mentioned (it may be hours old): it never passes for a
    measurement, but one already past the signing window is a warning."""
    now = time.time()
    if now < 1_704_067_200:  # 2024-01-01: a terminal that lost its RTC
        return Check("clock", "fail", time.strftime("clock says %Y-%m-%d", time.gmtime(now)),
                     "set the time (enable NTP: timedatectl set-ntp true)")
    offset_s = cloud.offset_s
    if offset_s is None:
        detail = f"plausible; no cloud to compare ({cloud.reason or 'unknown'})"
        if isinstance(last_sync_offset_ms, int | float):
            last = last_sync_offset_ms / 1000
            detail += f"; last known offset {last:+.1f} s at last sync"
            if abs(last) > CLOCK_FAIL_S:
                return Check("clock", "warn", detail, "check the time (enable NTP) before the cloud is back")
        return Check("clock", "ok", detail)
    if abs(offset_s) > CLOCK_FAIL_S:
        return Check("clock", "fail", f"{offset_s:+.0f} s from the cloud",
                     "fix the time: the cloud refuses signed requests")
    if abs(offset_s) > CLOCK_WARN_S:
        return Check("clock", "warn", f"{offset_s:+.0f} s from the cloud", "enable NTP")
    return Check("clock", "ok", f"{offset_s:+.1f} s from the cloud")


def check_agent(settings: Settings, live: dict[str, Any] | None, other: dict[str, Any] | None) -> Check:
    """Whether THIS configuration's agent answers on its port (another configuration's never counts)."""
    if other is not None:
        return Check("agent", "warn", other_agent_note(settings, other),
                     "that is not the agent of this configuration (another state directory): stop it, or "
                     "give one of them another [web] port")
    if live is None:
        return Check("agent", "ok", f"not running on port {settings.web.port} (checked from the files)")
    return Check("agent", "ok", f"running on port {settings.web.port}, serial {settings.agent.serial}")


def check_devices(settings: Settings, live: dict[str, Any] | None) -> list[Check]:
    """Each configured device: the node exists and is read/writable; live state when the agent runs."""
    from agent.adapters.devices.config import DevicesConfigError, parse_devices_config  # noqa: PLC0415

    try:
        cfg = parse_devices_config(settings.devices)
    except DevicesConfigError as err:
        return [Check("devices", "fail", str(err), "fix the [devices] table of the configuration")]
    health = (live or {}).get("devices") or {}
    out = []
    for name in ("printer", "scanner", "card_reader"):
        dev = getattr(cfg, name)
        if dev is None:
            continue
        path = getattr(dev, "path", None)
        state = (health.get(name) or {}).get("state")
        if getattr(dev, "transport", "serial") == "tcp" or path is None:
            out.append(_tcp_printer(name, dev.host, dev.port, state, probe=live is None))
            continue
        if not os.path.exists(path):
            out.append(Check(f"device:{name}", "fail", f"{path} does not exist",
                             "plug the device in; check the cable and the /dev/serial/by-id name"))
        elif not os.access(path, os.R_OK | os.W_OK):
            out.append(Check(f"device:{name}", "fail", f"{path}: permission denied",
                             "add the agent user to the dialout group (or install the udev rules)"))
        elif state not in (None, "online"):
            out.append(Check(f"device:{name}", "fail", f"{path}: agent says {state}", "see /status"))
        else:
            out.append(Check(f"device:{name}", "ok", f"{path}" + (f", {state}" if state else "")))
    return out or [Check("devices", "ok", "none configured")]


def _tcp_printer(name: str, host: str, port: int, state: str | None, *, probe: bool) -> Check:
    """A network printer: the agent's view when it runs, else one TCP connect (nobody else holds it)."""
    if state is not None:
        ok = state == "online"
        return Check(f"device:{name}", "ok" if ok else "fail", f"tcp {host}:{port}, agent says {state}",
                     None if ok else "check the printer's power and network cable")
    if probe:
        try:
            socket.create_connection((host, port), timeout=2.0).close()
        except OSError as err:
            return Check(f"device:{name}", "fail", f"tcp {host}:{port}: {err.strerror or err}",
                         "check the printer's power, address and network cable")
    return Check(f"device:{name}", "ok", f"tcp {host}:{port} reachable")


def check_queue(settings: Settings, status: dict[str, Any]) -> Check:
    """Unsynced sales against the offline caps (docs/sync-protocol.md)."""
    caps = settings.offline
    count = int(status.get("pending_count") or 0)
    worst = max((int(v) for v in (status.get("pending_amount") or {}).values()), default=0)
    age = status.get("oldest_pending_age_s") or 0
    used = max(count / caps.max_count, worst / caps.max_total_amount, age / (caps.max_age_hours * 3600))
    detail = (f"{count} pending, largest total {worst}, oldest {age:.0f} s; {used:.0%} of the tightest cap; "
              f"{status.get('quarantined_count') or 0} quarantined")
    if used >= 1:
        return Check("queue", "fail", detail, "offline sales are refused: restore the network and sync")
    if used >= CAP_WARN or status.get("quarantined_count"):
        return Check("queue", "warn", detail,
                     "sync soon (mpac-agent sync --now); quarantined items need support")
    return Check("queue", "ok", detail)


def run_checks(load: Callable[[], Settings], credentials_dir: Path | None) -> tuple[list[Check], bool]:
    """All checks in order; (checks, agent_running). A config that does not load stops the rest."""
    try:
        settings = load()
    except SettingsError as err:
        return [Check("config", "fail", str(err).splitlines()[0], "fix the configuration file")], False
    checks = [Check("config", "ok", f"store {settings.store.name!r}, serial {settings.agent.serial}")]
    live, other = own_agent_status(settings)
    checks.append(check_agent(settings, live, other))
    checks.append(check_state_dir(settings))
    checks.append(check_database(settings))
    enrolled, url = check_enrollment(settings, credentials_dir)
    checks.append(enrolled)
    cloud, cloud_time = check_cloud(url, cloud_trust(settings))
    checks.append(cloud)
    try:
        status = collect_status(settings, enrolled.status == "ok", (live, other))
    except sqlite3.Error as err:
        status = {}
        checks.append(Check("queue", "fail", f"cannot read the queue: {err}", "see the database check"))
    checks.append(check_clock(cloud_time, status.get("clock_offset_ms")))
    checks.extend(check_devices(settings, live))
    from agent.entrypoints.doctor_install import install_checks  # noqa: PLC0415 -- it imports Check from here
    checks.extend(install_checks(settings))
    if status:
        checks.append(check_queue(settings, status))
    return checks, live is not None


def run_doctor(args: argparse.Namespace, load: Callable[[], Settings], credentials_dir: Path | None) -> int:
    """Print the report; exit 1 when any check failed."""
    checks, running = run_checks(load, credentials_dir)
    failed = any(c.status == "fail" for c in checks)
    if args.json:
        print(json.dumps({"ok": not failed, "agent_running": running,
                          "checks": [asdict(c) for c in checks]}, ensure_ascii=False))
    else:
        marks = {"ok": "✓", "warn": "!", "fail": "✗"}
        for c in checks:
            print(f"{marks[c.status]} {c.name:<18} {c.detail}")
            if c.hint and c.status != "ok":
                print(f"    → {c.hint}")
        print(f"agent running: {'yes' if running else 'no'}; "
              + ("FAILED: the terminal cannot work as configured" if failed else "no failures"))
    return 1 if failed else 0
