"""`mpac-agent` command line. Each subcommand is one `add_<name>(subparsers)` function plus one line in
COMMANDS; the function registers its parser and sets `handler` to a function(args) -> exit code."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from aiohttp import web

from agent.settings import Settings, SettingsError, load_settings
from sync.version import package_version

CONFIG_ENV = "MPAC_AGENT_CONFIG"


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """--config FILE, shared by every subcommand that reads settings."""
    parser.add_argument("--config", type=Path, default=None, metavar="FILE",
                        help=f"TOML settings laid over the packaged defaults (default: ${CONFIG_ENV} if set)")


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Settings from --config, else $MPAC_AGENT_CONFIG, else the defaults (the CLI is the only env reader)."""
    path = args.config
    if path is None and os.environ.get(CONFIG_ENV):
        path = Path(os.environ[CONFIG_ENV])
    return load_settings(path)


async def serve(settings: Settings, announce: Callable[[str], None] = print,
                credentials_dir: Path | None = None) -> None:
    """Run the agent until SIGTERM or SIGINT, then close everything cleanly."""
    from agent.bootstrap import create_app, open_deps  # noqa: PLC0415 -- deferred so --help stays fast

    async with open_deps(settings, credentials_dir=credentials_dir) as deps:
        await _serve_app(create_app(settings, deps), settings, announce)


async def _serve_app(app: web.Application, settings: Settings, announce: Callable[[str], None]) -> None:
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.web.host, settings.web.port)
        await site.start()
        host, port = runner.addresses[0][:2]
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        announce(f"mpac-agent ready on http://{host}:{port}")
        await stop.wait()
    finally:
        await runner.cleanup()


def cmd_run(args: argparse.Namespace) -> int:
    """mpac-agent run: serve the local API until stopped."""
    settings = settings_from_args(args)
    from agent.adapters.devices import DevicesConfigError  # noqa: PLC0415 -- deferred like the bootstrap

    directory = os.environ.get("CREDENTIALS_DIRECTORY")  # systemd LoadCredentialEncrypted=
    try:
        credentials_dir = Path(directory) if directory else None
        asyncio.run(serve(settings, lambda line: print(line, flush=True), credentials_dir))
    except DevicesConfigError as err:
        print(f"mpac-agent: invalid configuration: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"mpac-agent: cannot listen on {settings.web.host}:{settings.web.port}: {err.strerror}",
              file=sys.stderr)
        return 1
    return 0


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
    add_sync,
    add_demo,
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
