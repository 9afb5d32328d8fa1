"""The demo's simulator commands: typed at its terminal, or sent with `mpac-agent demo-control` from anywhere.

One vocabulary for both (docs/operations.md): `scan CODE`, `decline`, `paper-out`, `paper-in`, `receipt`
("paper out" with a space works too). The running demo serves them on a loopback-only HTTP endpoint whose URL
and random token it writes to `<state-dir>/control.json` (0600): only someone who can read the demo's state
directory can drive it; a browser page cannot (it would need the token, sent in a header).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
from pathlib import Path

import aiohttp
from aiohttp import web

from drivers.simulators.rig import SimulatorRig

CONTROL_FILE = "control.json"
TOKEN_HEADER = "X-Demo-Token"  # noqa: S105 -- a header name, not a secret
USAGE = "scan CODE | decline | paper-out | paper-in | receipt"
TIMEOUT_S = 10.0


class UnknownCommand(ValueError):
    """Not one of USAGE."""


def apply_command(rig: SimulatorRig, state: Path, line: str) -> str:
    """Play one command on the simulators; the answer is one line for the person who typed it."""
    words = line.strip().replace("paper out", "paper-out").replace("paper in", "paper-in").split(maxsplit=1)
    name, rest = (words[0], words[1] if len(words) > 1 else "") if words else ("", "")
    if name == "scan" and rest.strip():
        rig.scanner.emit(rest.strip())
        return f"scanned {rest.strip()}"
    if name == "decline" and not rest:
        rig.card_reader.decline_next()
        return "the next card will be declined"
    if name in ("paper-out", "paper-in") and not rest:
        rig.printer.paper = "out" if name == "paper-out" else "ok"
        return "printer: paper out" if name == "paper-out" else "printer: paper loaded"
    if name == "receipt" and not rest:
        return f"saved {rig.printer.save_png(state / 'paper.png')}"
    raise UnknownCommand(f"commands: {USAGE}")


async def start_control(rig: SimulatorRig, state: Path, host: str = "127.0.0.1") -> web.AppRunner:
    """Serve POST /command {"command": "…"} on a free loopback port; URL and token go to control.json."""
    token = secrets.token_urlsafe(24)

    async def command(request: web.Request) -> web.Response:
        if not secrets.compare_digest(request.headers.get(TOKEN_HEADER, ""), token):
            return web.json_response({"error": "bad or missing token"}, status=403)
        try:
            line = str((await request.json())["command"])
            return web.json_response({"ok": True, "message": apply_command(rig, state, line)})
        except (ValueError, KeyError, TypeError) as err:
            return web.json_response({"ok": False, "message": str(err) or f"commands: {USAGE}"}, status=422)

    app = web.Application()
    app.router.add_post("/command", command)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, 0).start()
    port = runner.addresses[0][1]
    fd = os.open(state / CONTROL_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"url": f"http://{host}:{port}/command", "token": token, "pid": os.getpid()}, out)
    return runner


async def stop_control(runner: web.AppRunner, state: Path) -> None:
    """Stop serving and remove control.json (a stale file would point at nothing)."""
    await runner.cleanup()
    (state / CONTROL_FILE).unlink(missing_ok=True)


def add_demo_control_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `mpac-agent demo-control COMMAND [ARG]`."""
    parser = sub.add_parser(
        "demo-control", help="drive the running demo's simulated devices (scan, decline, paper, receipt)",
        description=f"Send one command to the simulators of a running `mpac-agent demo`: {USAGE}. Works "
        "whether or not the demo has a terminal.")
    parser.add_argument("command", choices=["scan", "decline", "paper-out", "paper-in", "receipt"])
    parser.add_argument("code", nargs="?", help="the code to scan (scan only)")
    parser.add_argument("--state-dir", type=Path, default=Path("var/demo"),
                        help="the demo's --state-dir (default ./var/demo)")
    parser.set_defaults(handler=cmd_demo_control)


async def _post(url: str, token: str, line: str) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as session, session.post(
            url, json={"command": line}, headers={TOKEN_HEADER: token},
            timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)) as resp:
        return resp.status, await resp.json()


def cmd_demo_control(args: argparse.Namespace) -> int:
    """Send the command; exit 0 when the demo did it, 1 when it refused or is not running."""
    if (args.command == "scan") != (args.code is not None):
        print("mpac-agent demo-control: `scan` takes a CODE, the other commands none", file=sys.stderr)
        return 2
    try:
        found = json.loads((args.state_dir / CONTROL_FILE).read_text())
        status, body = asyncio.run(_post(found["url"], found["token"], f"{args.command} {args.code or ''}"))
    except (OSError, ValueError, KeyError, aiohttp.ClientError) as err:
        print(f"mpac-agent demo-control: no running demo in {args.state_dir} ({type(err).__name__}); "
              "start it with `mpac-agent demo`", file=sys.stderr)
        return 1
    print(body.get("message"), file=sys.stdout if status == 200 else sys.stderr)
    return 0 if status == 200 else 1
