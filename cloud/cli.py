"""`mpac-pgw`: serve the gateway, or administer tenants (`mpac-pgw admin …`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence

from aiohttp import web

from cloud.admin import devices as _device_commands  # noqa: F401 — registers the admin subcommands
from cloud.admin import listing as _listing_commands  # noqa: F401 — registers the admin subcommands
from cloud.admin import tenants as _tenant_commands  # noqa: F401 — registers the admin subcommands
from cloud.admin import webhooks as _webhook_commands  # noqa: F401 — registers the admin subcommands
from cloud.admin.registry import add_admin_parsers
from cloud.bootstrap import build_app, build_deps
from cloud.domain.errors import DomainError
from cloud.infrastructure.sqlite.db import sqlite_path
from cloud.infrastructure.telemetry import cloud_telemetry
from cloud.migrate_cli import add_migrate_parser, migrate
from cloud.request_cli import add_request_parser, run_request
from cloud.settings import DEFAULT_DB_URL, ENV_DB, ENV_LOG_LEVEL, LOG_LEVELS, Settings, SettingsError
from cloud.tls import add_tls_arguments, listen_url, plain_http_warning, server_ssl_context, tls_options
from cloud.workers import run_workers
from sync.sqlite import MigrationError
from sync.version import package_version

DB_HELP = f"database URL, sqlite:///path or postgresql://… (default: ${ENV_DB} or {DEFAULT_DB_URL})"


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser = argparse.ArgumentParser(prog="mpac-pgw", description="mpac-pgw compatible payment gateway")
    parser.add_argument("--version", action="version", version=f"mpac-pgw {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP API", description="Run the PaymentIntent HTTP API.")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="TCP port (default 8080; 0 picks a free one)")
    serve.add_argument("--db", help=DB_HELP)
    serve.add_argument(
        "--rate-limit-per-minute", type=int, help="requests per minute per merchant (default 1000)"
    )
    serve.add_argument("--simulator-routes", action="store_true", default=None,
                       help="mount POST /_simulator/payment_intents/{id}/pay|fail (no auth, loopback peers "
                            "only) for demos and tests; off by default")  # fmt: skip
    add_tls_arguments(serve)
    serve.add_argument("--log-level", choices=LOG_LEVELS, default=None,
                       help=f"log records at this level and up go to stderr (default info; ${ENV_LOG_LEVEL})")
    serve.add_argument("--workers", type=int, help="worker processes on the one port (default 1; "
                       "PostgreSQL is the multi-worker backend, see docs/operations.md#workers)")
    admin = sub.add_parser("admin", help="manage partners, merchants, stores, provider configs",
                           description="Administer tenants; every command prints JSON.")  # fmt: skip
    add_admin_parsers(admin, DB_HELP)
    add_request_parser(sub)
    add_migrate_parser(sub, DB_HELP)
    return parser


async def serve(settings: Settings, on_ready: Callable[[str], None] | None = None) -> None:
    """Run until SIGTERM/SIGINT, then close connections and storage cleanly. A worker of `--workers N`
    binds with SO_REUSEPORT and hands its ready line to `on_ready` (the supervisor prints it once)."""
    ssl_context = server_ssl_context(settings)  # before anything opens: a bad certificate is a clear error
    if (warning := plain_http_warning(settings)) is not None:
        print(f"mpac-pgw: {warning}", file=sys.stderr, flush=True)
    runner = web.AppRunner(build_app(settings), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, ssl_context=ssl_context,
                       reuse_port=settings.workers > 1 or None)
    await site.start()
    port = runner.addresses[0][1] if runner.addresses else settings.port
    ready = f"mpac-pgw listening on {listen_url(settings, port)}"
    if on_ready is None:
        print(ready, flush=True)
    else:
        on_ready(ready)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def serve_process(settings: Settings, on_ready: Callable[[str], None] | None) -> None:
    """One serving process (the only one, or a worker of --workers N) with its own logging and telemetry."""
    configure_logging(settings.log_level)
    with cloud_telemetry(settings, os.environ):  # docs/observability.md
        asyncio.run(serve(settings, on_ready))


def configure_logging(level: str) -> None:
    """Records at `level` and above to stderr, one line each; telemetry, once set up, adds the trace and
    span ids to these lines and exports them (docs/observability.md#logs). Secrets are never logged."""
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        force=True)
    for noisy in ("aiohttp.access", "asyncio"):  # the access log is off; asyncio's debug chatter stays out
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


def check_db_location(settings: Settings, *, given: bool, must_exist: bool) -> None:
    """A given --db (or $MPAC_PGW_DB) in a missing directory is a typo, not a new gateway; a read needs the
    file itself (docs/operations.md). The default ./var is created on first use."""
    if not settings.db_url.startswith("sqlite:///"):
        return
    path = sqlite_path(settings.db_url)
    if given and not path.parent.is_dir():
        raise SettingsError(f"the directory of the database does not exist: {path.parent} "
                            f"(create it first, or fix --db / ${ENV_DB})")  # fmt: skip
    if must_exist and not path.is_file():
        raise SettingsError(f"no database at {path} (check --db / ${ENV_DB}; nothing was created)")


async def run_admin(args: argparse.Namespace, settings: Settings) -> dict[str, object]:
    """Open storage, run one admin command, close storage."""
    deps = build_deps(settings)
    await deps.db.open()
    try:
        result: dict[str, object] = await args.admin_run(args, deps)
        return result
    finally:
        await deps.db.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Console script entry point."""
    args = build_parser().parse_args(argv)
    if args.command == "request":
        return run_request(args, os.environ)
    try:
        if args.command == "serve":
            settings = Settings.load(os.environ, host=args.host, port=args.port, db_url=args.db,
                                     rate_limit_per_minute=args.rate_limit_per_minute,
                                     simulator_routes=args.simulator_routes, workers=args.workers,
                                     log_level=args.log_level,
                                     **tls_options(args))  # fmt: skip
            check_db_location(settings, given=args.db is not None or ENV_DB in os.environ, must_exist=False)
            if settings.workers > 1:
                return run_workers(settings, serve_process)
            serve_process(settings, None)
            return 0
        settings = Settings.load(os.environ, db_url=args.db)
        if args.command == "migrate":
            check_db_location(settings, given=args.db is not None or ENV_DB in os.environ, must_exist=False)
            print(json.dumps(asyncio.run(migrate(settings))), flush=True)
            return 0
        check_db_location(settings, given=args.db is not None or ENV_DB in os.environ,
                          must_exist=args.admin_read_only)  # fmt: skip
        print(json.dumps(asyncio.run(run_admin(args, settings)), ensure_ascii=False), flush=True)
        return 0
    except (SettingsError, DomainError, MigrationError) as err:
        message = err.message if isinstance(err, DomainError) else str(err)
        print(json.dumps({"error": {"code": getattr(err, "code", "settings_error"), "message": message}}),
              file=sys.stderr)  # fmt: skip
        return 2


if __name__ == "__main__":
    sys.exit(main())
