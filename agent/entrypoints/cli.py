"""`mpac-agent` command line. Each subcommand is one `add_<name>(subparsers)` function plus one line in
COMMANDS; the function registers its parser and sets `handler` to a function(args) -> exit code."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from agent.adapters.systemd import Notifier, use_journal_format
from agent.settings import Settings, SettingsError, load_settings_under_systemd
from sync.version import package_version

CONFIG_ENV = "MPAC_AGENT_CONFIG"


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """--config FILE, shared by every subcommand that reads settings."""
    parser.add_argument("--config", type=Path, default=None, metavar="FILE",
                        help=f"TOML settings laid over the packaged defaults (default: ${CONFIG_ENV} if set)")


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Settings from --config, else $MPAC_AGENT_CONFIG, else $CONFIGURATION_DIRECTORY/agent.toml, else the
    defaults; $STATE_DIRECTORY wins over [agent] state_dir (the CLI is the only env reader)."""
    path = args.config
    if path is None and os.environ.get(CONFIG_ENV):
        path = Path(os.environ[CONFIG_ENV])
    return load_settings_under_systemd(path, os.environ)


async def serve(settings: Settings, announce: Callable[[str], None] = print,
                credentials_dir: Path | None = None, notifier: Notifier | None = None) -> None:
    """Run the agent until SIGTERM or SIGINT, then drain and close everything (agent.entrypoints.run)."""
    from agent.entrypoints.run import serve as serve_until_stopped  # noqa: PLC0415 -- keeps --help fast

    await serve_until_stopped(settings, announce, credentials_dir, notifier or Notifier())


def cmd_run(args: argparse.Namespace) -> int:
    """mpac-agent run: serve the local API until stopped; tells systemd READY/WATCHDOG/STATUS/STOPPING."""
    notifier = Notifier.from_environ(os.environ)
    if os.environ.get("JOURNAL_STREAM"):  # stderr is the journal: one line per event, with its priority
        use_journal_format()
    from agent.adapters.devices import DevicesConfigError  # noqa: PLC0415 -- deferred like the bootstrap
    from agent.adapters.telemetry import start_agent_telemetry  # noqa: PLC0415 -- docs/observability.md
    from agent.domain.errors import StoreUnavailable  # noqa: PLC0415

    settings: Settings | None = None
    telemetry = None
    try:
        settings = settings_from_args(args)
        directory = os.environ.get("CREDENTIALS_DIRECTORY")  # systemd LoadCredentialEncrypted=
        credentials_dir = Path(directory) if directory else None
        telemetry = start_agent_telemetry(settings, os.environ, credentials_dir)
        asyncio.run(serve(settings, lambda line: print(line, flush=True), credentials_dir, notifier))
    except (SettingsError, DevicesConfigError) as err:
        message = str(err) if isinstance(err, SettingsError) else f"invalid configuration: {err}"
        return startup_failed(notifier, message, 2)
    except StoreUnavailable as err:  # a full disk or a read-only state directory; nothing was written
        return startup_failed(notifier, err.message, 1)
    except OSError as err:
        where = f" on {settings.web.host}:{settings.web.port}" if settings is not None else ""
        return startup_failed(notifier, f"cannot start{where}: {err}", 1)
    finally:
        if telemetry is not None:
            telemetry.shutdown()
        notifier.close()
    return 0


def startup_failed(notifier: Notifier, message: str, code: int) -> int:
    """Say why the agent cannot start, on stderr (the journal) and in `systemctl status`; return `code`."""
    line = "; ".join(part.strip() for part in message.splitlines() if part.strip()).replace(":; ", ": ")
    notifier.status(line)
    print(f"mpac-agent: {line}", file=sys.stderr, flush=True)
    return code


def add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `run`."""
    parser = sub.add_parser("run", help="run the agent (local API on 127.0.0.1:8700 by default)",
                            description="Run the edge agent until SIGTERM/SIGINT. Prints one line with "
                            "the URL "
                            "when ready. Cash and card sales work with no network from the first second.")
    add_config_option(parser)
    parser.set_defaults(handler=cmd_run)


# -- sync hook-ins (agent.entrypoints.enroll, agent.services.sync) ------------------------------------
def add_enroll(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `enroll --cloud URL --code CODE`."""
    from agent.entrypoints.enroll import add_enroll_parser, run_enroll  # noqa: PLC0415 -- keeps --help fast

    parser = add_enroll_parser(sub)
    add_config_option(parser)
    parser.set_defaults(handler=lambda args: run_enroll(args, settings_from_args(args), dict(os.environ)))


def add_rotate_secret(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `rotate-secret` (docs/cloud-api.md#rotating-a-device-secret)."""
    from agent.entrypoints.rotate_secret import add_rotate_secret_parser, run_rotate_secret  # noqa: PLC0415

    parser = add_rotate_secret_parser(sub)
    add_config_option(parser)
    parser.set_defaults(
        handler=lambda args: run_rotate_secret(args, settings_from_args(args), dict(os.environ)))


def add_sync(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `sync [--now] [--json]`."""
    from agent.entrypoints.sync_cli import add_sync_parser, run_sync_cli  # noqa: PLC0415 -- keeps --help fast

    parser = add_sync_parser(sub)
    add_config_option(parser)
    parser.set_defaults(handler=lambda args: run_sync_cli(args, settings_from_args(args), dict(os.environ)))


def add_demo(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `demo` (the README's first command)."""
    from agent.entrypoints.demo import add_demo_parser, cmd_demo  # noqa: PLC0415 -- keeps --help fast

    add_demo_parser(sub).set_defaults(handler=cmd_demo)


def add_demo_control(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `demo-control scan|decline|paper-out|paper-in|receipt` (drives a running demo)."""
    from agent.entrypoints.demo_control import add_demo_control_parser  # noqa: PLC0415 -- keeps --help fast

    add_demo_control_parser(sub)


def add_doctor(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `doctor [--json]` (exit 1 on any failed check)."""
    parser = sub.add_parser("doctor", help="check config, storage, enrollment, cloud, devices, clock, queue",
                            description="Field checks, one line each with a hint. Exit 1 when any check "
                            "fails (the terminal cannot work as configured); warnings exit 0.")
    add_config_option(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output")

    def handler(args: argparse.Namespace) -> int:
        from agent.entrypoints.doctor import run_doctor  # noqa: PLC0415 -- keeps --help fast

        directory = os.environ.get("CREDENTIALS_DIRECTORY")
        return run_doctor(args, lambda: settings_from_args(args), Path(directory) if directory else None)

    parser.set_defaults(handler=handler)


def add_status(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `status [--json]` (from the running agent, else the database read-only)."""
    parser = sub.add_parser("status", help="sync status: connected, pending, last ack, errors, quarantine",
                            description="Sync status from the running agent's /api/status, or from the "
                            "database (read-only) when the agent is not running.")
    add_config_option(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output")

    def handler(args: argparse.Namespace) -> int:
        from agent.adapters.secrets import resolve_credential  # noqa: PLC0415
        from agent.entrypoints.status import run_status  # noqa: PLC0415 -- keeps --help fast

        settings = settings_from_args(args)
        directory = os.environ.get("CREDENTIALS_DIRECTORY")
        found = resolve_credential(settings, Path(directory) if directory else None)
        return run_status(args, settings, not isinstance(found, str))

    parser.set_defaults(handler=handler)


COMMANDS: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = [
    add_run,
    add_enroll,
    add_rotate_secret,
    add_sync,
    add_demo,
    add_demo_control,
    add_doctor,
    add_status,
]


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every registered subcommand."""
    parser = argparse.ArgumentParser(prog="mpac-agent", description="MPAC edge agent for SmartPOS terminals: "
                                     "offline-safe cash and card sales, QR payments, device drivers, sync.")
    parser.add_argument("--version", action="version", version=f"mpac-agent {package_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `mpac-agent` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        code: int = args.handler(args)
    except SettingsError as err:
        print(f"mpac-agent: {err}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
