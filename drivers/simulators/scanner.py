"""Scanner simulator on a pty: emits codes (CR/LF terminated) or raw bytes on demand."""

from __future__ import annotations

from drivers.simulators.base import PtySimulator


class ScannerSimulator(PtySimulator):
    """A serial barcode/QR scanner; `emit("code")` is one scan."""

    def emit(self, code: str, terminator: bytes = b"\r\n") -> None:
        """Scan a code: its ASCII bytes plus the terminator."""
        self.send(code.encode("ascii") + terminator)

    def emit_raw(self, data: bytes) -> None:
        """Send arbitrary bytes (garbage, half codes)."""
        self.send(data)

    def on_bytes(self, data: bytes) -> None:
        """Scanners ignore what the host sends."""
