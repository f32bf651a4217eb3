"""Where uploaded and generated files live, and the URLs they are served under."""

from __future__ import annotations

MEDIA_URL = "/media/"


def media_path_url(path: str) -> str | None:
    """The site-relative URL of a file stored under the media root ("" means no file)."""
    return f"{MEDIA_URL}{path.lstrip('/')}" if path else None


def absolute_media_url(base_url: str, path: str) -> str | None:
    relative = media_path_url(path)
    return f"{base_url.rstrip('/')}{relative}" if relative else None
