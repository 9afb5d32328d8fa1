"""`mpac-agent demo`: a cloud on SQLite, an enrolled agent and simulated devices, started together.

The README's first command. Everything runs on loopback: `mpac-pgw serve` and `mpac-agent run` as child
processes, the printer / scanner / card reader simulators on pseudo-terminals inside this process. State lives
in one directory (default ./var/demo) so a second run finds the same sales, device and store again.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import secrets
import shlex
import signal
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agent.entrypoints.demo_control import USAGE, UnknownCommand, apply_command, start_control, stop_control
from agent.entrypoints.demo_processes import Child, DemoError, run_json, spawn
from drivers.simulators.rig import SimulatorRig, start_simulators
from sync.testing.pki import LOOPBACK_NAMES, write_demo_pki

PARTNER_NAME = "Demo Partner"
STORE_CODE = "DEMO-001"


def _whsec() -> str:
    """A simulator-provider `webhook_secret` (docs/cloud-api.md#webhooks): whsec_ + base64 of 32 bytes, so
    the simulator's signed callbacks verify and the demo's QR flow completes by webhook alone."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


class Demo:
    """The demo's steps; `state` is the one directory everything lives in."""

    def __init__(self, state: Path, host: str, cloud_port: int, agent_port: int) -> None:
        self.state, self.host = state, host
        self.cloud_port, self.agent_port = cloud_port, agent_port
        self.cloud_db = f"sqlite:///{state / 'pgw.sqlite3'}"
        self.config = state / "agent.toml"
        self.record = state / "demo.json"
        self.ca_file = state / "tls" / "ca.pem"

    def tls_files(self) -> tuple[Path, Path]:
        """The throwaway CA and the cloud's certificate (docs/operations.md, "Certificates"), made on the
        first run with `cryptography` and kept in the state directory: the enrolled agent trusts this CA."""
        tls = self.state / "tls"
        cert, key = tls / "server.pem", tls / "server.key"
        if not (self.ca_file.is_file() and cert.is_file() and key.is_file()):
            extra = () if self.host in (*LOOPBACK_NAMES, "0.0.0.0", "::") else (self.host,)  # noqa: S104
            write_demo_pki(tls, (*LOOPBACK_NAMES, *extra))
        return cert, key

    def _pgw(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "cloud.cli", *args]

    def _agent(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "agent.entrypoints.cli", *args]

    def load_record(self) -> dict[str, Any]:
        """What an earlier run provisioned (ids, device, admin password), or {}."""
        try:
            loaded: dict[str, Any] = json.loads(self.record.read_text())
        except (OSError, ValueError):
            return {}
        return loaded

    def save_record(self, record: dict[str, Any]) -> None:
        """Kept 0600: it holds the demo admin password."""
        fd = os.open(self.record, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(record, out, indent=1)

    async def start_cloud(self, record: dict[str, Any]) -> Child:
        """`mpac-pgw serve` on the demo database.

        With --cloud-port 0 a second run first tries the port of the first run: the enrolled agent keeps the
        cloud URL it enrolled with, and a new port would mean enrolling a second device.
        """
        ports = [self.cloud_port]
        earlier = urlsplit(str(record.get("cloud_url", ""))).port
        if self.cloud_port == 0 and earlier:
            ports.insert(0, earlier)
        cert, key = self.tls_files()
        for port in ports:
            argv = self._pgw("serve", "--host", self.host, "--port", str(port), "--db", self.cloud_db,
                             "--tls-cert", str(cert), "--tls-key", str(key),
                             "--simulator-routes")  # the demo settles its QR codes through them
            try:
                return await spawn("mpac-pgw", argv, self.state / "pgw.log", ready="listening")
            except DemoError:
                if port == ports[-1]:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def provision(self, record: dict[str, Any]) -> dict[str, Any]:
        """Partner → merchant → store (simulator QR provider) once; later runs reuse them."""
        if "store_id" in record:
            return record
        partner = await run_json(self._pgw("admin", "partner", "create", "--name", PARTNER_NAME,
                                           "--db", self.cloud_db))
        merchant = await run_json(self._pgw("admin", "merchant", "create", "--partner",
                                            partner["client_partner_id"], "--name", "Demo Merchant",
                                            "--db", self.cloud_db))
        store = await run_json(self._pgw("admin", "store", "create", "--merchant", merchant["merchant_id"],
                                         "--code", STORE_CODE, "--db", self.cloud_db))
        await run_json(self._pgw("admin", "provider-config", "set", "--store", store["store_id"],
                                 "--provider", "simulator", "--credentials",
                                 json.dumps({"webhook_secret": _whsec()}), "--db", self.cloud_db))
        # Throwaway demo keys: the secret is kept in demo.json (0600) so the banner can show a signed call.
        record.update(client_partner_id=partner["client_partner_id"], api_key=partner["api_key"],
                      secret_key=partner["secret_key"], merchant_id=merchant["merchant_id"],
                      store_id=store["store_id"])
        self.save_record(record)
        return record

    def write_config(self, rig: SimulatorRig) -> None:
        """The agent's TOML: state in the demo dir, the web port, the simulators as devices."""
        lines = [
            "[agent]", f"state_dir = {json.dumps(str(self.state / 'agent'))}", 'serial = "DEMO-0001"', "",
            "[web]", f"host = {json.dumps(self.host)}", f"port = {self.agent_port}", "",
            "[cloud]", f"ca_file = {json.dumps(str(self.ca_file))}", "",
            "[store]", 'name = "MPAC デモ店"', "",
        ]
        for name, table in rig.devices_config().items():
            lines.append(f"[devices.{name}]")
            lines.extend(f"{key} = {json.dumps(value)}" for key, value in table.items())
            lines.append("")
        self.config.write_text("\n".join(lines))

    async def enroll(self, record: dict[str, Any], cloud_url: str) -> dict[str, Any]:
        """Activation code + `mpac-agent enroll`, unless this device is already enrolled with this cloud."""
        if record.get("device_id") and record.get("cloud_url") == cloud_url:
            return record
        code = await run_json(self._pgw("admin", "activation-code", "--store", record["store_id"],
                                        "--db", self.cloud_db))
        enrolled = await run_json(self._agent("enroll", "--cloud", cloud_url, "--ca-file", str(self.ca_file),
                                              "--code", code["activation_code"],
                                              "--config", str(self.config)))
        record.update(device_id=enrolled["device_id"], cloud_url=cloud_url,
                      admin_password=enrolled["admin_password"])
        self.save_record(record)
        return record


def pgw_command() -> list[str]:
    """How to run mpac-pgw from here: the console script beside this Python, else `python -m cloud`."""
    script = Path(sys.executable).with_name("mpac-pgw")
    return [str(script)] if script.exists() else [sys.executable, "-m", "cloud"]


def api_example(cloud_url: str, record: dict[str, Any], ca_file: Path) -> str | None:
    """A ready-to-paste signed create (a fresh merchant_ref_id each run); None without the demo's secret."""
    if not record.get("secret_key"):
        return None
    body = json.dumps({"amount": 1200, "currency": "JPY", "merchant_ref_id": f"demo-{secrets.token_hex(4)}",
                       "merchant_store_id": STORE_CODE, "payment_method_types": ["qr_mpm"]},
                      separators=(",", ":"))  # fmt: skip
    argv = [*pgw_command(), "request", "--url", cloud_url, "--ca-file", str(ca_file), "--api-key",
            record["api_key"],
            "--secret-key", record["secret_key"], "POST", "/v1/payment_intents", body]
    return shlex.join(argv)


def banner(cloud: Child, agent: Child, record: dict[str, Any], demo: Demo, rig: SimulatorRig, *,
           interactive: bool) -> str:
    """What the newcomer sees: the two URLs first, then where everything is and how to drive it."""
    devices = rig.devices_config()
    example = api_example(cloud.url, record, demo.ca_file)
    control = shlex.join([sys.executable, "-m", "agent", "demo-control", "--state-dir", str(demo.state)])
    lines = [
        "",
        "MPAC demo is running (Ctrl-C stops everything)",
        f"  Cashier screen : {agent.url}/",
        f"  Status page    : {agent.url}/status",
        f"  Cloud (pgw)    : {cloud.url}  (health: {cloud.url}/health, API: {cloud.url}/openapi.json)",
        f"  Cloud CA       : {demo.ca_file}  (a throwaway CA: curl --cacert it, or trust it in a browser)",
        f"  Admin password : {record.get('admin_password', '?')}  (for admin actions on the status page)",
        f"  Partner API    : api key {record.get('api_key', '?')}, secret "
        f"{record.get('secret_key') or '(not kept by this older demo state)'}, store code {STORE_CODE}",
        "  Signed call    : " + (example or "delete the state directory for a demo that keeps its secret"),
        f"  Devices        : printer {devices['printer'].get('path', devices['printer'])}, "
        f"scanner {devices['scanner']['path']}, card reader {devices['card_reader']['path']}",
        f"  State and logs : {demo.state}",
    ]
    if interactive:
        lines += ["  Type here: 'scan CODE' (scanner), 'decline' (next card declined), 'paper out' / "
                  "'paper in',", "             'receipt' (save the printed paper as PNG), 'quit'.",
                  f"  Or from another terminal: {control} {USAGE.split(' | ')[0]}"]
    else:
        lines += ["  Devices are driven from another terminal (this demo has no terminal to type in):",
                  f"    {control} {USAGE}"]
    return "\n".join([*lines, ""])


async def console(rig: SimulatorRig, state: Path, stop: asyncio.Event) -> None:
    """Typed commands that play the customer and the hardware (stdin is a terminal).

    stdin is watched by the event loop (add_reader), not read by a thread: a thread blocked in readline()
    would keep the process alive after Ctrl-C until Enter was pressed."""
    loop = asyncio.get_running_loop()
    fd = sys.stdin.fileno()
    lines: asyncio.Queue[bytes] = asyncio.Queue()
    loop.add_reader(fd, lambda: lines.put_nowait(os.read(fd, 4096)))
    buffered = b""
    try:
        while not stop.is_set():
            chunk = await lines.get()
            if chunk == b"":
                return  # end of input: the demo goes on until Ctrl-C
            buffered += chunk
            while b"\n" in buffered:
                raw, buffered = buffered.split(b"\n", 1)
                _console_line(rig, state, stop, raw.decode(errors="replace").strip())
    finally:
        loop.remove_reader(fd)


def _console_line(rig: SimulatorRig, state: Path, stop: asyncio.Event, line: str) -> None:
    if line == "quit":
        stop.set()
    elif line:
        try:
            print(apply_command(rig, state, line), flush=True)
        except UnknownCommand as err:
            print(f"{err} | quit", flush=True)


async def run_demo(args: argparse.Namespace) -> int:
    """Start everything, print the URLs, wait for Ctrl-C / SIGTERM, stop everything."""
    state: Path = args.state_dir.resolve()
    (state / "devices").mkdir(parents=True, exist_ok=True)
    demo = Demo(state, args.host, args.cloud_port, args.agent_port)
    children: list[Child] = []
    rig = await start_simulators(state / "devices")
    control = await start_control(rig, state)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    try:
        print(f"==> starting the cloud (SQLite {state / 'pgw.sqlite3'})", flush=True)
        record = demo.load_record()
        cloud = await demo.start_cloud(record)
        children.append(cloud)
        record = await demo.provision(record)
        demo.write_config(rig)
        print("==> enrolling the agent with the cloud", flush=True)
        record = await demo.enroll(record, cloud.url)
        print("==> starting the agent with simulated printer, scanner and card reader", flush=True)
        agent = await spawn("mpac-agent", demo._agent("run", "--config", str(demo.config)),
                            state / "agent.log", ready="ready")
        children.append(agent)
        interactive = sys.stdin.isatty()
        print(banner(cloud, agent, record, demo, rig, interactive=interactive), flush=True)
        if interactive:
            asyncio.get_running_loop().create_task(console(rig, state, stop))
        waiters = [asyncio.create_task(stop.wait())] + [asyncio.create_task(c.proc.wait()) for c in children]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
        for child in children:
            if child.proc.returncode is not None and not stop.is_set():
                print(f"{child.name} stopped unexpectedly (exit {child.proc.returncode}); see {child.log}",
                      file=sys.stderr)
                return 1
        return 0
    except DemoError as err:
        print(f"mpac-agent demo: {err}", file=sys.stderr)
        return 1
    finally:
        print("==> stopping", flush=True)
        for child in reversed(children):
            await child.stop()
        await stop_control(control, state)
        with contextlib.suppress(Exception):
            await rig.stop()


def add_demo_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Register `mpac-agent demo`."""
    parser = sub.add_parser(
        "demo", help="start a local cloud, an enrolled agent and simulated devices",
        description="Start mpac-pgw on SQLite, enroll an agent with it, start simulated printer / scanner / "
        "card reader on pseudo-terminals, and print the cashier screen and status page URLs. State is kept "
        "in "
        "--state-dir, so a second run continues where the first stopped.")
    parser.add_argument("--state-dir", type=Path, default=Path("var/demo"), help="default ./var/demo")
    parser.add_argument("--host", default="127.0.0.1",
                        help="bind address of both servers (default 127.0.0.1)")
    parser.add_argument("--cloud-port", type=int, default=8080,
                        help="cloud port (default 8080; 0 = any free)")
    parser.add_argument("--agent-port", type=int, default=8700,
                        help="agent port (default 8700; 0 = any free)")
    return parser


def cmd_demo(args: argparse.Namespace) -> int:
    """Entry point of `mpac-agent demo`."""
    return asyncio.run(run_demo(args))
