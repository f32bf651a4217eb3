"""Where uploaded and generated files live, and the URLs they are served under."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path
from uuid import uuid4

from PIL import Image

MEDIA_URL = "/media/"


def media_path_url(path: str) -> str | None:
    """The site-relative URL of a file stored under the media root ("" means no file)."""
    return f"{MEDIA_URL}{path.lstrip('/')}" if path else None


def absolute_media_url(base_url: str, path: str) -> str | None:
    relative = media_path_url(path)
    return f"{base_url.rstrip('/')}{relative}" if relative else None


MAX_IMAGE_BYTES = 5 * 1024 * 1024
NOT_AN_IMAGE = (
    "Upload a valid image. The file you uploaded was either not an image or a corrupted image."
)
MAX_IMAGES = 10
IMAGE_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}


class InvalidImage(ValueError):
    """An upload that is not a JPEG, PNG or WebP of at most 5 MB (judged by its bytes)."""


def image_extension(data: bytes) -> str:
    """Check an upload by its content, never its name or declared type."""
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidImage("Image too large: at most 5 MB.")
    try:
        with Image.open(BytesIO(data)) as picture:
            kind = picture.format
            picture.verify()
    except Exception:
        raise InvalidImage(NOT_AN_IMAGE) from None
    if kind not in IMAGE_FORMATS:
        raise InvalidImage("Only JPEG, PNG and WebP images are accepted.")
    return IMAGE_FORMATS[kind]


class MediaWriter:
    """Writes files under the media root and removes them again if the transaction fails."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.written: list[Path] = []

    def save_image(self, data: bytes, folder: str) -> str:
        relative = f"{folder}/{uuid4().hex}.{image_extension(data)}"
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.written.append(path)
        return relative

    def discard(self) -> None:
        for path in self.written:
            path.unlink(missing_ok=True)
        self.written.clear()


def delete_media(root: Path, relative: str) -> None:
    if relative:
        (root / relative).unlink(missing_ok=True)
