"""`mpac-pgw request METHOD PATH [BODY]`: one HMAC-signed call of the API, signed at send time.

For a backend developer's first request (HMAC is not easy in plain curl): it signs with the partner's api key
and secret as docs/cloud-api.md#authentication-hmac-sha256 says, sends, prints the HTTP status on stderr and
the JSON answer on stdout. A POST gets a fresh Idempotency-Key unless one is given. Never prints the secret.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path

from sync.errors import CloudUnreachable
from sync.http import CloudReply, CloudSession, DeviceCredential
from sync.tls import CloudTrust

ENV_URL, ENV_API_KEY, ENV_SECRET_KEY = "MPAC_PGW_URL", "MPAC_PGW_API_KEY", "MPAC_PGW_SECRET_KEY"
TIMEOUT_S = 30.0


def add_request_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `request` (the handler is run_request)."""
    p = sub.add_parser("request", help="send one HMAC-signed API request (for trying the API by hand)",
                       description="Sign one request with a partner (or device) key, send it, print "
                       "the status on stderr and the JSON answer on stdout; exit 1 on a status >= 400.")
    p.add_argument("method", type=str.upper, choices=["GET", "POST"])
    p.add_argument("path", help="e.g. /v1/payment_intents (a query string is sent but not signed)")
    p.add_argument("body", nargs="?", help="JSON body of a POST (default {})")
    p.add_argument("--url", help=f"the gateway (default ${ENV_URL} or http://127.0.0.1:8080)")
    p.add_argument("--api-key", help=f"default ${ENV_API_KEY}")
    p.add_argument("--secret-key", help=f"default ${ENV_SECRET_KEY} (never printed)")
    p.add_argument("--idempotency-key", help="Idempotency-Key of a POST (default: a fresh one)")
    p.add_argument("--ca-file", type=Path, help="PEM file of the CA of the gateway's certificate (a private "
                   "PKI such as the demo's; default: the system CA store)")


def _body(args: argparse.Namespace) -> bytes | None:
    if args.method != "POST":
        return None
    text = args.body if args.body is not None else "{}"
    json.loads(text)  # a typo in the JSON is reported here, not as a 400 from the gateway
    return text.encode("utf-8")  # sent as given: these exact bytes are signed


async def _send(args: argparse.Namespace, url: str, cred: DeviceCredential) -> CloudReply:
    key = args.idempotency_key or (f"cli-{uuid.uuid4()}" if args.method == "POST" else None)
    async with CloudSession(url, cred, timeout_s=TIMEOUT_S, trust=CloudTrust(args.ca_file)) as session:
        return await session.request(args.method, args.path, body=_body(args), idempotency_key=key)


def run_request(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Handler of `mpac-pgw request`: 0 on a status below 400, 1 otherwise, 2 on a usage error."""
    url = args.url or environ.get(ENV_URL) or "http://127.0.0.1:8080"
    api_key, secret = args.api_key or environ.get(ENV_API_KEY), args.secret_key or environ.get(ENV_SECRET_KEY)
    if not api_key or not secret:
        print(f"mpac-pgw request: give --api-key and --secret-key (or ${ENV_API_KEY} / ${ENV_SECRET_KEY})",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        reply = asyncio.run(_send(args, url, DeviceCredential("cli", api_key, secret)))
    except ValueError as err:
        print(f"mpac-pgw request: the body is not JSON: {err}", file=sys.stderr)
        return 2
    except CloudUnreachable as err:
        print(f"mpac-pgw request: {err}", file=sys.stderr)
        return 1
    print(f"HTTP {reply.status}", file=sys.stderr)
    try:
        print(json.dumps(json.loads(reply.body), indent=1, ensure_ascii=False))
    except ValueError:
        print(reply.body.decode("utf-8", errors="replace"))
    return 0 if reply.status < 400 else 1
