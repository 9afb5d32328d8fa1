"""`python -m cloud.infrastructure.providers.paypay_sim --port 8090 …`: the simulator on its own.

Prints one line with its base URL when ready (the StoreProviderConfig's base_url). Its `/_sim` hooks have
no authentication, so it binds to 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from aiohttp import web

from cloud.infrastructure.providers.paypay_sim.app import PayPaySimulator
from cloud.infrastructure.providers.paypay_sim.state import Merchant


def parse(argv: list[str]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m cloud.infrastructure.providers.paypay_sim",
                                     description="A local PayPay Open Payment API simulator.")  # fmt: skip
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--api-key", required=True, help="the API key the simulator accepts")
    parser.add_argument("--api-secret", required=True, help="its secret (never printed)")
    parser.add_argument("--merchant-id", default=None, help="X-ASSUME-MERCHANT to require, if any")
    parser.add_argument("--webhook-url", default=None, help="where to POST transaction notifications")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    """Run until cancelled."""
    sim = PayPaySimulator(
        [Merchant(args.api_key, args.api_secret, args.merchant_id)], webhook_url=args.webhook_url
    )
    runner = web.AppRunner(sim.app())
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port)
    await site.start()
    port = runner.addresses[0][1]
    print(f"paypay simulator on http://{args.host}:{port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(parse(sys.argv[1:] if argv is None else argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
