"""Admin subcommands as data: `@admin_command("device", "suspend", ...)` over an async function.

A command function receives the parsed args and the opened Deps and returns the JSON object printed on stdout.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cloud.deps import Deps

Run = Callable[[argparse.Namespace, Deps], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Arg:
    """One argparse argument: flags plus add_argument keyword options."""

    flags: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)


def arg(*flags: str, **options: Any) -> Arg:
    """Shorthand for Arg."""
    return Arg(flags, options)


@dataclass(frozen=True, slots=True)
class AdminCommand:
    """`admin <path…>` with its arguments and coroutine."""

    path: tuple[str, ...]
    help: str
    args: Sequence[Arg]
    run: Run
    read_only: bool = False  # a read needs an existing database: it never creates an empty one


ADMIN_COMMANDS: list[AdminCommand] = []


def admin_command(
    *path: str, help: str, args: Sequence[Arg] = (), read_only: bool = False
) -> Callable[[Run], Run]:
    """Register an admin subcommand (read_only: it refuses a database file that does not exist)."""

    def register(run: Run) -> Run:
        ADMIN_COMMANDS.append(AdminCommand(path, help, tuple(args), run, read_only))
        return run

    return register


def add_admin_parsers(admin: argparse.ArgumentParser, db_help: str) -> None:
    """Build nested subparsers for every registered command; each takes --db."""
    groups: dict[tuple[str, ...], Any] = {(): admin.add_subparsers(dest="admin_cmd", required=True)}
    for command in ADMIN_COMMANDS:
        for depth in range(1, len(command.path)):
            prefix = command.path[:depth]
            if prefix not in groups:
                group = groups[prefix[:-1]].add_parser(prefix[-1], help=f"{prefix[-1]} commands")
                groups[prefix] = group.add_subparsers(dest=f"admin_{depth}", required=True)
        parser = groups[command.path[:-1]].add_parser(
            command.path[-1], help=command.help, description=command.help
        )
        for a in command.args:
            parser.add_argument(*a.flags, **a.options)
        parser.add_argument("--db", help=db_help)
        parser.set_defaults(admin_run=command.run, admin_read_only=command.read_only)
