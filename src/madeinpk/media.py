"""Where uploaded and generated files live, and the URLs they are served under."""

from __future__ import annotations

import asyncio
import warnings
import weakref
from dataclasses import dataclass
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any
from uuid import uuid4

from litestar import Router
from litestar.datastructures import MutableScopeHeaders
from litestar.exceptions import NotFoundException
from litestar.static_files import create_static_files_router
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from PIL import Image, ImageOps

MEDIA_URL = "/media/"


def _nosniff(app: ASGIApp) -> ASGIApp:
    """Browsers must take each file as the type it is served as (an image), never guess from
    its bytes that it could be HTML or script."""

    async def with_nosniff(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableScopeHeaders.from_message(message)["X-Content-Type-Options"] = "nosniff"
            await send(message)

        await app(scope, receive, send_with_header)

    return with_nosniff


# The file system's limits (Linux): a longer name, or a path with a NUL, is no file's.
NAME_MAX = 255
PATH_MAX = 4096


def _possible_paths_only(app: ASGIApp) -> ASGIApp:
    """A path no file can have is a 404, not the file system's error (a 500): a NUL byte
    (``/media/%00``), a name or path longer than the system allows."""

    async def possible_paths_only(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        if (
            "\x00" in path
            or len(path.encode()) > PATH_MAX
            or any(len(name.encode()) > NAME_MAX for name in path.split("/"))
        ):
            raise NotFoundException()
        await app(scope, receive, send)

    return possible_paths_only


def files_router(path: str, root: Path, name: str, **options: Any) -> Router:
    """A folder served as it is (uploads, the web page's files), every path a file can have."""
    middleware = [_possible_paths_only, *options.pop("middleware", [])]
    return create_static_files_router(
        path=path, directories=[root], name=name, middleware=middleware, **options
    )


def media_router(root: Path) -> Router:
    """``/media/``: uploaded and generated files, straight from the media root."""
    return files_router(MEDIA_URL.rstrip("/"), root, "media", middleware=[_nosniff])


def media_path_url(path: str) -> str | None:
    """The site-relative URL of a file stored under the media root ("" means no file)."""
    return f"{MEDIA_URL}{path.lstrip('/')}" if path else None


def absolute_media_url(base_url: str, path: str) -> str | None:
    relative = media_path_url(path)
    return f"{base_url.rstrip('/')}{relative}" if relative else None


MAX_IMAGE_BYTES = 5 * 1024 * 1024
DEFAULT_MAX_IMAGE_PIXELS = 40_000_000
NOT_AN_IMAGE = (
    "Upload a valid image. The file you uploaded was either not an image or a corrupted image."
)
MAX_IMAGES = 10
IMAGE_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
# Only what the decoder needs to draw the picture again; EXIF (with its GPS position), ICC
# profiles, text chunks and anything appended to the file are left behind.
_KEPT_INFO = ("transparency",)
_SAVE_OPTIONS: dict[str, dict[str, Any]] = {"JPEG": {"quality": 90}, "WEBP": {"quality": 90}}

# The pixel limit below is the project's own, checked before decoding; Pillow's warning for
# images past its (larger) default is noise here. Past twice that, Pillow refuses to open them.
warnings.simplefilter("ignore", Image.DecompressionBombWarning)


class InvalidImage(ValueError):
    """An upload that is not a JPEG, PNG or WebP of at most 5 MB and the pixel limit (judged by
    its bytes)."""


@dataclass(frozen=True, slots=True)
class CleanImage:
    """An upload decoded and encoded again: only the picture, in its own format."""

    data: bytes
    extension: str


def _too_large(max_pixels: int) -> InvalidImage:
    return InvalidImage(f"Image too large: at most {max_pixels / 1_000_000:g} megapixels.")


def clean_image(data: bytes, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> CleanImage:
    """Check an upload by its content, never its name or declared type, and re-encode it, so
    that a file which is also something else (a PNG with HTML after it, a polyglot) is stored
    as the picture alone. The size is checked from the header, before any pixel is decoded:
    a 144-megapixel PNG fits in a few kilobytes."""
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidImage("Image too large: at most 5 MB.")
    try:
        with Image.open(BytesIO(data)) as picture:
            kind = picture.format
            if kind not in IMAGE_FORMATS:
                raise InvalidImage("Only JPEG, PNG and WebP images are accepted.")
            if picture.width * picture.height > max_pixels:
                raise _too_large(max_pixels)
            picture.load()
            upright = ImageOps.exif_transpose(picture)  # EXIF is dropped; keep its rotation
            upright.info = {k: v for k, v in picture.info.items() if k in _KEPT_INFO}
            output = BytesIO()
            upright.save(output, kind, **_SAVE_OPTIONS.get(kind, {}))
    except InvalidImage:
        raise
    except Image.DecompressionBombError:
        raise _too_large(max_pixels) from None
    except Exception:
        raise InvalidImage(NOT_AN_IMAGE) from None
    return CleanImage(output.getvalue(), IMAGE_FORMATS[kind])


class ImageDecodes:
    """At most ``limit`` uploads decoded at once in this process, each in a worker thread
    (decoding tens of megapixels would otherwise stall every socket the process serves). A
    40-megapixel picture holds ~270 MB for about a second while it is decoded and encoded
    again: unbounded, a burst of uploads could take the machine's memory; the others wait."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.busy = 0
        self.peak = 0  # the most decoded at once so far
        # One semaphore per event loop (a process has one; the test suite starts several).
        self._slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    async def clean(self, data: bytes, max_pixels: int) -> CleanImage:
        loop = asyncio.get_running_loop()
        slots = self._slots.get(loop)
        if slots is None:
            slots = self._slots[loop] = asyncio.Semaphore(self.limit)
        async with slots:
            self.busy += 1
            self.peak = max(self.peak, self.busy)
            try:
                return await asyncio.to_thread(clean_image, data, max_pixels)
            finally:
                self.busy -= 1


@cache
def image_decodes(limit: int) -> ImageDecodes:
    """The process's bound (``MAX_IMAGE_DECODES``): one for every caller with that limit."""
    return ImageDecodes(limit)


async def clean_images(files: list[bytes], max_pixels: int, max_decodes: int) -> list[CleanImage]:
    """``clean_image`` for each upload, at most ``max_decodes`` at once in this process."""
    decodes = image_decodes(max_decodes)
    return [await decodes.clean(data, max_pixels) for data in files]


class MediaWriter:
    """Writes files under the media root and removes them again if the transaction fails."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.written: list[Path] = []

    def save_image(self, image: CleanImage, folder: str) -> str:
        relative = f"{folder}/{uuid4().hex}.{image.extension}"
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(image.data)
        self.written.append(path)
        return relative

    def discard(self) -> None:
        for path in self.written:
            path.unlink(missing_ok=True)
        self.written.clear()


def delete_media(root: Path, relative: str) -> None:
    if relative:
        (root / relative).unlink(missing_ok=True)
