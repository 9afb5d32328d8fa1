"""Renders parsed paper to a PNG (Pillow): text at 12x24-dot cells, native QR codes, raster images, cuts."""

from __future__ import annotations

from pathlib import Path

import qrcode
from PIL import Image, ImageDraw, ImageFont

from drivers.simulators.escpos_parse import Barcode, Cut, Element, Qr, Raster, TextLine

CELL_W, CELL_H = 12, 24
# IPA Gothic (Debian fonts-ipafont-gothic) draws Japanese; without it Pillow's default font shows boxes.
_FONT_PATHS = (
    "/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf",
    "/usr/share/fonts/truetype/fonts-japanese-gothic.ttf",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)


def _font(px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in _FONT_PATHS:
        if Path(path).exists():
            return ImageFont.truetype(path, px)
    return ImageFont.load_default(px)


def _line_image(el: TextLine, width: int) -> Image.Image:
    h = CELL_H * el.height
    img = Image.new("L", (width, h), 255)
    draw = ImageDraw.Draw(img)
    font = _font(CELL_H - 2)
    text_w = int(draw.textlength(el.text, font=font)) * el.width
    scratch = Image.new("L", (max(text_w // el.width, 1), CELL_H), 255)
    ImageDraw.Draw(scratch).text((0, 0), el.text, fill=0, font=font, stroke_width=1 if el.bold else 0)
    scratch = scratch.resize((max(text_w, 1), h))
    x = {"left": 0, "center": (width - text_w) // 2, "right": width - text_w}[el.align]
    img.paste(scratch, (max(x, 0), 0))
    if el.underline:
        draw.line([(max(x, 0), h - 2), (max(x, 0) + text_w, h - 2)], fill=0, width=el.underline)
    return img


def _element_image(el: Element, width: int) -> Image.Image:
    if isinstance(el, TextLine):
        return _line_image(el, width)
    if isinstance(el, Qr):
        code = qrcode.QRCode(border=1, box_size=max(el.module, 1))
        code.add_data(el.data)
        qr_img = code.make_image().get_image().convert("L")
        img = Image.new("L", (width, qr_img.height), 255)
        x = {"left": 0, "center": (width - qr_img.width) // 2, "right": width - qr_img.width}[el.align]
        img.paste(qr_img, (max(x, 0), 0))
        return img
    if isinstance(el, Raster):
        bits = Image.frombytes("1", (el.width_bytes * 8, el.height), el.bits)
        img = Image.new("L", (width, el.height), 255)
        img.paste(bits.point(lambda p: 0 if p else 255, mode="L"), (0, 0))
        return img
    img = Image.new("L", (width, CELL_H * 2 if isinstance(el, Cut) else CELL_H * 3), 255)
    draw = ImageDraw.Draw(img)
    if isinstance(el, Cut):
        for x in range(0, width, 16):
            draw.line([(x, CELL_H), (x + 8, CELL_H)], fill=0)
    elif isinstance(el, Barcode):
        draw.rectangle([(20, 4), (width - 20, CELL_H * 2)], outline=0)
        draw.text((24, CELL_H * 2 + 2), f"{el.symbology} {el.data}", fill=0, font=_font(CELL_H - 6))
    return img


def render_png(elements: list[Element], path: Path, width: int = 512) -> Path:
    """Draw the elements top to bottom on a paper `width` dots wide and save a PNG."""
    parts = [_element_image(el, width) for el in elements] or [Image.new("L", (width, CELL_H), 255)]
    paper = Image.new("L", (width, sum(p.height for p in parts)), 255)
    y = 0
    for part in parts:
        paper.paste(part, (0, y))
        y += part.height
    paper.save(path, format="PNG")
    return path
