"""QR codes for the cashier screen: the cloud's `qr_content` rendered as SVG by the `qrcode` library."""

from __future__ import annotations

MAX_QR_CHARS = 1024  # provider QR payloads are short URLs/EMVCo strings; anything longer is not ours


def qr_svg(content: str) -> str:
    """An SVG document (white background, with a viewBox so it scales) encoding `content`."""
    import qrcode  # noqa: PLC0415 -- loaded on the first QR sale, not by every idle agent
    import qrcode.image.svg  # noqa: PLC0415

    image = qrcode.make(content, image_factory=qrcode.image.svg.SvgPathFillImage, box_size=10, border=2)
    svg: str = image.to_string(encoding="unicode")
    return svg
