"""The demo's child processes (`mpac-agent demo`): start one and wait for the line announcing its URL, stop
it, run a JSON-printing CLI step; each failure is a DemoError saying which step and why."""

from __future__ import annotations

import asyncio
import json
import re
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

READY_TIMEOUT_S = 30.0
_URL_RE = re.compile(r"(https?://\S+)")


class DemoError(RuntimeError):
    """A step of the demo failed; the message says which and why."""


@dataclass
class Child:
    """A child process and the URL it announced when ready."""

    name: str
    proc: asyncio.subprocess.Process
    url: str
    log: Path

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        if self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


async def _copy_lines(stream: asyncio.StreamReader, log: Path) -> None:
    with log.open("ab") as out:
        while line := await stream.readline():
            out.write(line)
            out.flush()


async def spawn(name: str, argv: list[str], log: Path, ready: str) -> Child:
    """Start a process, wait for the line containing `ready`, return it with the URL on that line."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    seen: list[bytes] = []

    async def wait_ready() -> str:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            seen.append(line)
            text = line.decode(errors="replace")
            match = _URL_RE.search(text)
            if ready in text and match:
                return match.group(1)
        tail = b"".join(seen[-20:]).decode(errors="replace")
        raise DemoError(f"{name} exited before it was ready:\n{tail}")

    try:
        url = await asyncio.wait_for(wait_ready(), READY_TIMEOUT_S)
    except TimeoutError as err:
        proc.kill()
        raise DemoError(f"{name} was not ready within {READY_TIMEOUT_S:.0f} s (see {log})") from err
    except DemoError:
        await proc.wait()
        raise
    log.write_bytes(b"".join(seen))  # noqa: ASYNC240 -- a few lines, once, at start-up
    asyncio.get_running_loop().create_task(_copy_lines(proc.stdout, log))
    return Child(name, proc, url.rstrip("/."), log)


async def run_json(argv: list[str]) -> dict[str, Any]:
    """Run a CLI that prints JSON on stdout; raise DemoError with its stderr on failure."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise DemoError(f"`{' '.join(argv[2:5])} …` failed: {err.decode(errors='replace').strip()[:800]}")
    try:
        result: dict[str, Any] = json.loads(out)
    except ValueError as exc:
        raise DemoError(f"`{' '.join(argv[2:5])} …` printed no JSON: {out[:200]!r}") from exc
    return result
