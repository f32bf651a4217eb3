"""Uploaded images: limited in pixels, re-encoded so only the picture is stored, and served with
``nosniff`` so no browser takes one for a page."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from functools import cache
from io import BytesIO
from pathlib import Path

import httpx
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from madeinpk.accounts.tables import UserProfile
from madeinpk.auctions.tables import Auction
from madeinpk.catalog.tables import Product, ProductImage
from madeinpk.media import clean_images, image_decodes
from madeinpk.settings import Settings
from tests.integration.auctions.test_auctions_api import iso, jpeg
from tests.integration.conftest import LiveServer
from tests.integration.factories import UserHandle

pytestmark = pytest.mark.usefixtures("task_worker", "task_scheduler")

TOO_LARGE = "Image too large: at most 40 megapixels."
HTML = b"<html><body><script>alert(document.cookie)</script></body></html>"


@cache
def huge_png() -> bytes:
    """12,000 x 12,000 = 144 megapixels, in a few kilobytes."""
    buffer = BytesIO()
    Image.new("1", (12_000, 12_000)).save(buffer, "PNG")
    assert len(buffer.getvalue()) < 100_000
    return buffer.getvalue()


def png_with_html() -> bytes:
    """A valid PNG carrying a script in a text chunk and an HTML page after its end."""
    text = PngInfo()
    text.add_text("Comment", "<script>alert(1)</script>")
    buffer = BytesIO()
    Image.new("RGB", (32, 24), "crimson").save(buffer, "PNG", pnginfo=text)
    return buffer.getvalue() + HTML


def media_files(live_server: LiveServer) -> set[Path]:
    return set(Path(live_server.settings.media_root).rglob("*"))


async def test_144_megapixel_png_is_refused_everywhere(
    client: httpx.AsyncClient, live_server: LiveServer, seller: UserHandle
) -> None:
    before = media_files(live_server)
    files = [
        ("images", ("small.jpg", jpeg(), "image/jpeg")),
        ("images", ("huge.png", huge_png(), "image/png")),
    ]
    product = await client.post(
        "/api/products/", headers=seller.auth, data={"name": "Rug", "description": "x"}, files=files
    )
    assert (product.status_code, product.json()) == (400, {"images": [TOO_LARGE]})
    auction = await client.post(
        "/api/auctions/",
        headers=seller.auth,
        data={
            "name": "Rug",
            "description": "x",
            "condition": "new",
            "starting_price": "2500",
            "start_time": iso(timedelta()),
            "end_time": iso(timedelta(days=1)),
        },
        files=files,
    )
    assert (auction.status_code, auction.json()) == (400, {"images": [TOO_LARGE]})
    assert await Product.count() == 0 and await Auction.count() == 0

    existing = await client.post(
        "/api/products/", headers=seller.auth, json={"name": "Rug", "description": "x"}
    )
    added = await client.post(
        f"/api/products/{existing.json()['id']}/add_image/",
        headers=seller.auth,
        files={"image": ("huge.png", huge_png(), "image/png")},
    )
    assert (added.status_code, added.json()) == (400, {"image": [TOO_LARGE]})
    assert await ProductImage.count() == 0
    picture = await client.patch(
        "/api/auth/profile/",
        headers=seller.auth,
        files={"profile_picture": ("huge.png", huge_png(), "image/png")},
    )
    assert (picture.status_code, picture.json()) == (400, {"profile_picture": [TOO_LARGE]})
    assert await UserProfile.select(UserProfile.profile_picture).where(
        UserProfile.user == seller.id
    ) == [{"profile_picture": ""}]
    assert media_files(live_server) == before


async def test_png_with_html_appended_is_stored_as_the_picture_alone(
    client: httpx.AsyncClient, seller: UserHandle
) -> None:
    response = await client.post(
        "/api/products/",
        headers=seller.auth,
        data={"name": "Ajrak", "description": "Block print"},
        files={"images": ("ajrak.png", png_with_html(), "text/html")},
    )
    assert response.status_code == 201, response.text
    served = await client.get(response.json()["images"][0]["image_url"])
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert b"<html" not in served.content and b"script" not in served.content
    with Image.open(BytesIO(served.content)) as stored:
        assert (stored.format, stored.size) == ("PNG", (32, 24))
        assert stored.convert("RGB").getpixel((5, 5)) == (220, 20, 60)


async def test_profile_picture_loses_its_metadata_and_keeps_its_rotation(
    client: httpx.AsyncClient, seller: UserHandle
) -> None:
    exif = Image.Exif()
    exif[0x010F] = "Camera <script>alert(1)</script>"  # Make
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    buffer = BytesIO()
    Image.new("RGB", (60, 40), "teal").save(buffer, "JPEG", exif=exif.tobytes())
    response = await client.patch(
        "/api/auth/profile/",
        headers=seller.auth,
        files={"profile_picture": ("me.jpg", buffer.getvalue() + HTML, "image/jpeg")},
    )
    assert response.status_code == 200, response.text
    served = await client.get(response.json()["profile_picture_url"])
    assert served.headers["x-content-type-options"] == "nosniff"
    assert b"script" not in served.content
    with Image.open(BytesIO(served.content)) as stored:
        assert (stored.format, stored.size) == ("JPEG", (40, 60))  # upright, as displayed
        assert not stored.getexif()


async def test_missing_media_is_a_404_with_nosniff(client: httpx.AsyncClient) -> None:
    response = await client.get("/media/products/nothing-here.png")
    assert response.status_code == 404
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_image_decodes_are_bounded_per_process(live_server: LiveServer) -> None:
    """However many uploads arrive at once, at most ``MAX_IMAGE_DECODES`` are decoded together
    in one process (each 40-megapixel picture holds ~270 MB while it is); the others wait
    their turn and are cleaned all the same."""
    settings = live_server.settings
    assert settings.max_image_decodes == 2  # the documented default
    decodes = image_decodes(settings.max_image_decodes)
    decodes.peak = 0
    uploads = [png_with_html() for _ in range(6)]
    cleaned = await asyncio.gather(
        *(
            clean_images([data], settings.max_image_pixels, settings.max_image_decodes)
            for data in uploads
        )
    )
    assert [c.extension for [c] in cleaned] == ["png"] * 6
    assert all(HTML not in c.data for [c] in cleaned)
    assert decodes.peak == 2 and decodes.busy == 0


def test_max_image_decodes_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_IMAGE_DECODES", "4")
    assert Settings.from_env().max_image_decodes == 4
    monkeypatch.setenv("MAX_IMAGE_DECODES", "0")
    with pytest.raises(ValueError):
        Settings.from_env()
