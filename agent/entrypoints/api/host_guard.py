"""DNS-rebinding defence for the local web: answer only requests whose Host names this terminal.

A page on evil.example can make a browser resolve evil.example to 127.0.0.1 and then read the agent's pages
as same-origin; its requests still carry `Host: evil.example`. So every request must name the bind address,
loopback (`localhost`, `127.0.0.1`, `[::1]`) or a name listed in `[web] allowed_hosts`; anything else, or no
Host at all, gets 421 Misdirected Request (JSON error, docs/local-web.md) before any handler runs. The port
is not compared:
a rebinding attack cannot change the name. With a wildcard bind (0.0.0.0 / ::) only loopback, that literal and
the listed names are accepted — list the terminal's LAN address or hostname to reach it from another machine.
"""

from __future__ import annotations

import ipaddress

from aiohttp import web
from aiohttp.typedefs import Middleware

from agent.entrypoints.api.errors import Handler, error_json
from agent.settings import Settings

_LOOPBACK = ("localhost", "127.0.0.1", "::1")


def allowed_hosts(settings: Settings) -> frozenset[str]:
    """The host names (lower case, no port, IPv6 without brackets) this agent answers to."""
    names = {*_LOOPBACK, *(_norm(h) for h in settings.web.allowed_hosts)}
    names.add(_norm(settings.web.host))  # an IP literal (even 0.0.0.0) is no attacker-controlled name
    return frozenset(n for n in names if n)


def host_name(header: str | None) -> str | None:
    """The name part of a Host header ("a.b:8700" → "a.b", "[::1]:80" → "::1"); None when malformed."""
    if not header or len(header) > 255 or any(c.isspace() or c in "/\\@?#" for c in header):
        return None
    if header.startswith("["):
        end = header.find("]")
        rest = header[end + 1:]
        if end < 0 or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        name = header[1:end]
        try:
            ipaddress.IPv6Address(name)
        except ValueError:
            return None
        return _norm(name)
    name, sep, port = header.rpartition(":") if ":" in header else (header, "", "")
    if sep and not port.isdigit():
        return None
    return _norm(name)


def _norm(name: str) -> str:
    return name.strip().strip("[]").rstrip(".").lower()


def host_guard(settings: Settings) -> Middleware:
    """The aiohttp middleware (put it first, so nothing else runs for a misdirected request)."""
    allowed = allowed_hosts(settings)

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if host_name(request.headers.get("Host")) not in allowed:
            return error_json(421, "invalid_request_error", "misdirected_request",
                              "This terminal does not answer to that host name. Open it as "
                              "http://127.0.0.1 (or a name listed in [web] allowed_hosts).")
        return await handler(request)

    return guard
