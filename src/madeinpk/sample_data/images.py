"""The demo pictures: real JPEG placeholders drawn with Pillow (no files in the repository)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFont

from madeinpk.sample_data.data import RGB, PastSale

IMAGE_SIZE = (640, 480)


def render_image(
    path: Path, title: str, caption: str, palette: tuple[RGB, RGB], variant: int
) -> None:
    """A real JPEG placeholder: a two-colour gradient, a craft-like pattern and the product name."""
    width, height = IMAGE_SIZE
    vertical = Image.linear_gradient("L").resize(IMAGE_SIZE)
    horizontal = Image.linear_gradient("L").rotate(90).resize(IMAGE_SIZE)
    mask = (vertical, horizontal, ImageChops.add(vertical, horizontal, scale=2))[variant % 3]
    dark, light = (Image.new("RGB", IMAGE_SIZE, colour) for colour in palette)
    image = Image.composite(light, dark, mask)
    draw = ImageDraw.Draw(image, "RGBA")
    ink = (255, 255, 255, 45)
    if variant % 3 == 0:
        for radius in range(30, 500, 40):
            box = (width // 2 - radius, height // 2 - 40 - radius)
            draw.ellipse((*box, box[0] + 2 * radius, box[1] + 2 * radius), outline=ink, width=6)
    elif variant % 3 == 1:
        for x in range(-height, width, 36):
            draw.line((x, 0, x + height, height), fill=ink, width=10)
    else:
        for x in range(0, width + 60, 60):
            for y in range(0, height + 60, 60):
                draw.polygon(
                    ((x, y - 24), (x + 24, y), (x, y + 24), (x - 24, y)), outline=ink, width=4
                )
    draw.rectangle((0, height - 120, width, height), fill=(0, 0, 0, 140))
    draw.text((24, 20), "MadeInPK", font=_font(26), fill=(255, 255, 255, 220))
    draw.text((24, height - 104), title, font=_fitting_font(draw, title, width - 48), fill="white")
    draw.text((24, height - 48), caption, font=_font(26), fill=(230, 230, 230))
    image.save(path, "JPEG", quality=85, optimize=True)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _fitting_font(
    draw: ImageDraw.ImageDraw, text: str, max_width: int
) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The largest font up to 44 px in which the text fits on one line."""
    for size in range(44, 18, -2):
        font = _font(size)
        left, _, right, _ = draw.textbbox((0, 0), text, font=font)
        if right - left <= max_width:
            return font
    return _font(18)


def sale_palette(sale: PastSale) -> tuple[RGB, RGB]:
    """A dark and a light colour of the sale's own, derived from its name (stable across runs)."""
    digest = hashlib.sha256(sale.name.encode()).digest()
    dark = (digest[0] % 120, digest[1] % 120, digest[2] % 120)
    light = (135 + digest[3] % 120, 135 + digest[4] % 120, 135 + digest[5] % 120)
    return dark, light
