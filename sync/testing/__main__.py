"""Run the reference fake cloud as a process: `python -m sync.testing --db PATH [--port N] [--device JSON]`.

Prints one line `listening http://127.0.0.1:PORT` when ready (used by the e2e chaos test and the benches);
with `--tls-cert FILE --tls-key FILE` it serves HTTPS and the line says https.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from aiohttp import web

from sync.testing.cloud import FakeCloud, FakeDevice, create_fake_cloud_app
from sync.testing.pki import ServerFiles, server_context


async def _serve(args: argparse.Namespace) -> None:
    cloud = FakeCloud(args.db)
    runner = web.AppRunner(create_fake_cloud_app(cloud), access_log=None)
    await runner.setup()
    context = server_context(ServerFiles(args.tls_cert, args.tls_key)) if args.tls_cert else None
    site = web.TCPSite(runner, "127.0.0.1", args.port, reuse_address=True, ssl_context=context)
    await site.start()
    for raw in args.device:
        await cloud.add_device(FakeDevice(**json.loads(raw)))
    for code in args.activation_code:
        await cloud.add_activation_code(code)
    port = runner.addresses[0][1]
    print(f"listening {'https' if context else 'http'}://127.0.0.1:{port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main() -> None:
    """Parse arguments and serve until killed."""
    parser = argparse.ArgumentParser(prog="python -m sync.testing")
    parser.add_argument("--db", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--device", action="append", default=[], help="JSON of FakeDevice fields")
    parser.add_argument("--activation-code", action="append", default=[])
    parser.add_argument("--tls-cert", type=Path)
    parser.add_argument("--tls-key", type=Path)
    asyncio.run(_serve(parser.parse_args()))


if __name__ == "__main__":
    main()
