"""What every serial simulator shares: a PtyDevice it can plug, unplug and re-plug."""

from __future__ import annotations

from pathlib import Path

from drivers.simulators.pty import PtyDevice


class PtySimulator:
    """Base: subclasses implement `on_bytes(data)` and call `send(data)`."""

    def __init__(self) -> None:
        self._pty: PtyDevice | None = None

    def start_pty(self, link: Path | None = None) -> str:
        """Plug a fresh pty (optionally behind the symlink `link`); returns the path the driver opens."""
        self._pty = PtyDevice(self.on_bytes, link)
        return self._pty.plug()

    @property
    def path(self) -> str:
        """The device path (the symlink if one was given)."""
        if self._pty is None:
            raise RuntimeError("simulator not started")
        return self._pty.path

    def unplug(self) -> None:
        """Pull the cable: the master closes, the symlink disappears."""
        if self._pty is not None:
            self._pty.unplug()

    def replug(self) -> str:
        """Plug back in on a new pty behind the same symlink; returns the path."""
        if self._pty is None:
            raise RuntimeError("simulator not started")
        return self._pty.plug()

    def stall(self, stalled: bool = True) -> None:
        """Stop (or resume) reading what the driver sends, like a device with a full buffer."""
        if self._pty is not None:
            (self._pty.pause_reading if stalled else self._pty.resume_reading)()

    def send(self, data: bytes) -> None:
        """Bytes from the device to the driver."""
        if self._pty is not None:
            self._pty.write(data)

    def on_bytes(self, data: bytes) -> None:
        """Bytes from the driver to the device."""
        raise NotImplementedError

    async def stop(self) -> None:
        """Unplug for good."""
        self.unplug()
