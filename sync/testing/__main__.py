"""Run the reference fake cloud as a process: `python -m sync.testing --db PATH [--port N] [--device JSON]`.

Prints one line `listening http://127.0.0.1:PORT` when ready (used by the e2e chaos test and the benches).
"""

from __future__ import annotations

import argparse
import asyncio
import json

from aiohttp import web

from sync.testing.cloud import FakeCloud, FakeDevice, create_fake_cloud_app


async def _serve(args: argparse.Namespace) -> None:
    cloud = FakeCloud(args.db)
    runner = web.AppRunner(create_fake_cloud_app(cloud), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", args.port, reuse_address=True)
    await site.start()
    for raw in args.device:
        await cloud.add_device(FakeDevice(**json.loads(raw)))
    for code in args.activation_code:
        await cloud.add_activation_code(code)
    port = runner.addresses[0][1]
    print(f"listening http://127.0.0.1:{port}", flush=True)
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
    asyncio.run(_serve(parser.parse_args()))


if __name__ == "__main__":
    main()
