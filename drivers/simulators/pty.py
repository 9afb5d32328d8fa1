"""A virtual serial device: the master side of a real pseudo-terminal, with a stable symlink as its path."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from collections.abc import Callable
from pathlib import Path


class PtyDevice:
    """The device end of a pty. The driver opens `path` like /dev/ttyUSB0; unplug() closes the master.

    With a `link`, `path` is that symlink (like /dev/serial/by-id/…): it vanishes on unplug and points to a
    fresh pty on plug(), so a driver reopening the same path finds the re-plugged device.
    """

    def __init__(self, on_data: Callable[[bytes], None], link: Path | None = None) -> None:
        self._on_data = on_data
        self.link = link
        self._master: int | None = None
        self._slave: int | None = None
        self._tty = ""
        self._out = bytearray()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def path(self) -> str:
        """The path a driver opens."""
        return str(self.link) if self.link is not None else self._tty

    @property
    def plugged(self) -> bool:
        """True between plug() and unplug()."""
        return self._master is not None

    def plug(self) -> str:
        """Create the pty (and point the link at it); returns the device path. Needs a running loop."""
        if self._master is not None:
            return self.path
        self._loop = asyncio.get_running_loop()
        master, slave = os.openpty()
        tty.setraw(master)
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave, self._tty = master, slave, os.ttyname(slave)
        if self.link is not None:
            tmp = self.link.with_name(self.link.name + ".new")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(self._tty)
            tmp.replace(self.link)
        self._loop.add_reader(master, self._readable)
        return self.path

    def unplug(self) -> None:
        """Close the master (the driver's next read fails) and remove the link."""
        master, slave, self._master, self._slave = self._master, self._slave, None, None
        self._out.clear()
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()
        if master is not None and self._loop is not None:
            self._loop.remove_reader(master)
            self._loop.remove_writer(master)
            os.close(master)
        if slave is not None:
            os.close(slave)

    def pause_reading(self) -> None:
        """Stop taking bytes (a device whose buffer is full): the driver's writes back up and block."""
        if self._master is not None and self._loop is not None:
            self._loop.remove_reader(self._master)

    def resume_reading(self) -> None:
        """Take bytes again."""
        if self._master is not None and self._loop is not None:
            self._loop.add_reader(self._master, self._readable)

    def write(self, data: bytes) -> None:
        """Send bytes to the driver (buffered without blocking the loop); dropped while unplugged."""
        if self._master is None or self._loop is None:
            return
        pending = bool(self._out)
        self._out += data
        if not pending:
            self._flush()

    def _flush(self) -> None:
        if self._master is None or self._loop is None:
            return
        try:
            sent = os.write(self._master, self._out)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._out.clear()
            return
        del self._out[:sent]
        if self._out:
            self._loop.add_writer(self._master, self._writable)

    def _writable(self) -> None:
        if self._master is not None and self._loop is not None:
            self._loop.remove_writer(self._master)
        self._flush()

    def _readable(self) -> None:
        if self._master is None:
            return
        try:
            data = os.read(self._master, 65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""  # EIO: no slave open right now (the driver closed the port); nothing to read
        if data:
            self._on_data(data)
