"""HTTPS for `mpac-pgw serve` (docs/operations.md, "HTTPS"): the server's TLS context, the trusted-proxy mode
and the plain-HTTP warning.

- `--tls-cert FILE --tls-key FILE`: `server_ssl_context(settings)` gives the context each listening site is
  started with (`web.TCPSite(..., ssl_context=...)`; with several workers, each worker builds its own from the
  same files, so a restart picks up renewed files).
- `--trusted-proxy ADDR` (repeatable, an address or a network): behind a TLS-terminating load balancer,
  `X-Forwarded-For` / `X-Forwarded-Proto` are believed only when the TCP peer is one of these; from anyone
  else they are ignored, so a client cannot choose the address its rate limits are counted against.
- neither: plain HTTP, for loopback and tests; `plain_http_warning` says so when bound elsewhere.
"""

from __future__ import annotations

import argparse
import ipaddress
import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from cloud.settings import Settings, SettingsError

# TLS 1.2 suites: ECDHE key exchange (forward secrecy) with an AEAD cipher only. TLS 1.3 suites are all
# AEAD and are not affected by set_ciphers.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def add_tls_arguments(serve: argparse.ArgumentParser) -> None:
    """--tls-cert, --tls-key and --trusted-proxy of `mpac-pgw serve`."""
    serve.add_argument("--tls-cert", metavar="FILE", help="serve HTTPS with this PEM certificate chain")
    serve.add_argument("--tls-key", metavar="FILE", help="the PEM private key of --tls-cert")
    serve.add_argument("--trusted-proxy", metavar="ADDR", action="append", default=None,
                       help="a TLS-terminating proxy (address or network, repeatable): its X-Forwarded-For "
                            "and X-Forwarded-Proto are believed, nobody else's")


def tls_options(args: argparse.Namespace) -> dict[str, Any]:
    """The Settings options of those arguments (None ones are left to the defaults)."""
    proxies = None if args.trusted_proxy is None else tuple(args.trusted_proxy)
    return {"tls_cert": args.tls_cert, "tls_key": args.tls_key, "trusted_proxies": proxies}


def server_ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context for --tls-cert/--tls-key (None when not configured); SettingsError if unusable."""
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    context.set_alpn_protocols(["http/1.1"])
    for option, path in (("--tls-cert", settings.tls_cert), ("--tls-key", settings.tls_key)):
        if not Path(path).is_file():
            raise SettingsError(f"{option}: no such file: {path}")
    try:
        context.load_cert_chain(Path(settings.tls_cert), Path(settings.tls_key))
    except (OSError, ssl.SSLError) as err:
        raise SettingsError(f"--tls-cert/--tls-key: cannot load the certificate and key "
                            f"({settings.tls_cert}, {settings.tls_key}): {err}") from None
    return context


def listen_url(settings: Settings, port: int) -> str:
    """The URL of the ready line: https when TLS is on."""
    scheme = "https" if settings.tls_cert else "http"
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"{scheme}://{host}:{port}"


def is_loopback(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1 (a name other than localhost is not assumed to be loopback)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plain_http_warning(settings: Settings) -> str | None:
    """The warning for plain HTTP on a non-loopback address with no trusted proxy in front (else None)."""
    if settings.tls_cert or settings.trusted_proxies or is_loopback(settings.host):
        return None
    return (f"WARNING: serving plain HTTP on {settings.host}: requests, signatures and sales cross the "
            "network unencrypted. Give --tls-cert/--tls-key, or --trusted-proxy ADDR behind a "
            "TLS-terminating proxy (docs/operations.md, HTTPS).")


def proxy_networks(addresses: Sequence[str]) -> tuple[Network, ...]:
    """The --trusted-proxy values as networks (a bare address is a /32 or /128); ValueError if malformed."""
    return tuple(ipaddress.ip_network(a.strip(), strict=False) for a in addresses)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip().strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(text: str | None, networks: tuple[Network, ...]) -> bool:
    address = _address(text or "")
    return address is not None and any(address in net for net in networks)


def client_address(peer: str | None, forwarded_for: str, networks: tuple[Network, ...]) -> str | None:
    """The client as the proxies saw it: the right-most X-Forwarded-For entry that is not a trusted proxy
    (entries further left were written by the client and prove nothing); the peer when there is none."""
    if not _trusted(peer, networks):
        return peer
    for entry in reversed([e for e in forwarded_for.split(",") if e.strip()]):
        if _address(entry) is None:
            return peer  # a malformed chain: count the request against the proxy itself
        if not _trusted(entry, networks):
            return str(_address(entry))
    return peer


def forwarded_middleware(settings: Settings) -> list[Middleware]:
    """[the middleware that believes X-Forwarded-* from trusted proxies only], or [] with none configured."""
    networks = proxy_networks(settings.trusted_proxies)
    if not networks:
        return []

    @web.middleware
    async def forwarded(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not _trusted(request.remote, networks):
            return await handler(request)
        remote = client_address(request.remote, request.headers.get("X-Forwarded-For", ""), networks)
        if remote is None:  # no peer address at all (not a TCP socket): nothing to replace it with
            return await handler(request)
        proto = request.headers.get("X-Forwarded-Proto", "").split(",")[-1].strip().lower()
        scheme = proto if proto in ("http", "https") else request.scheme
        return await handler(request.clone(remote=remote, scheme=scheme))

    return [forwarded]
