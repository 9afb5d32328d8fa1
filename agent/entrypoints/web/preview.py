"""The receipt preview of the status page: the last receipt drawn from the very ESC/POS bytes the printer got.

One renderer serves both the printer simulator and this page: drivers/simulators' ESC/POS parser and its
Pillow renderer (docs/devices.md, "Simulators"); this is only the small function that calls them.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from drivers.simulators.escpos_parse import EscPosParser

MAX_PAYLOAD = 256 * 1024  # a receipt is a few KiB; refuse to draw anything absurd


def receipt_png(payload: bytes) -> bytes:
    """PNG bytes of `payload` as printed paper (blocking: call it in a worker thread)."""
    from drivers.simulators.render import render_png  # noqa: PLC0415 -- Pillow only when a preview is drawn

    parser = EscPosParser()
    parser.feed(payload[:MAX_PAYLOAD])
    with tempfile.TemporaryDirectory(prefix="mpac-receipt-") as folder:
        path = render_png(parser.paper.elements, Path(folder) / "receipt.png")
        return path.read_bytes()
