"""``/api/products/`` over real HTTP: listing, uploads checked by content, ownership rules."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from madeinpk.accounts.tables import Role
from madeinpk.auctions.tables import Auction
from madeinpk.catalog.tables import Product, ProductImage
from tests.integration.auctions.test_auctions_api import PRODUCT_FIELDS, jpeg
from tests.integration.conftest import LiveServer
from tests.integration.factories import UserHandle, make_auction, make_user

pytestmark = pytest.mark.usefixtures("task_worker", "task_scheduler")


async def create(
    client: httpx.AsyncClient, seller: UserHandle, images: int = 2
) -> dict[str, object]:
    response = await client.post(
        "/api/products/",
        headers=seller.auth,
        data={"name": "Multani Blue Vase", "description": "Hand-painted", "condition": "like_new"},
        files=[("images", (f"{n}.jpg", jpeg(), "image/jpeg")) for n in range(images)],
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


async def test_create_list_and_detail(client: httpx.AsyncClient, seller: UserHandle) -> None:
    product = await create(client, seller)
    assert set(product) == PRODUCT_FIELDS
    assert product["listing_type"] is None and product["condition"] == "like_new"
    as_json = await client.post(
        "/api/products/", headers=seller.auth, json={"name": "Ajrak", "description": "Block print"}
    )
    assert as_json.status_code == 201 and as_json.json()["images"] == []
    listing = (await client.get(f"/api/products/?seller={seller.id}&ordering=name")).json()
    assert [p["name"] for p in listing["results"]] == ["Ajrak", "Multani Blue Vase"]
    found = (await client.get("/api/products/?search=block")).json()
    assert [p["name"] for p in found["results"]] == ["Ajrak"]
    assert (await client.get("/api/products/?condition=used")).status_code == 400
    assert (await client.get("/api/products/?seller=abc")).json() == {
        "seller": ["A valid integer is required."]
    }
    detail = await client.get(f"/api/products/{product['id']}/")
    assert detail.json() == product
    assert (await client.get("/api/products/999999/")).status_code == 404


async def test_create_validation_and_roles(
    client: httpx.AsyncClient, live_server: LiveServer, seller: UserHandle
) -> None:
    missing = await client.post("/api/products/", headers=seller.auth, json={})
    assert missing.json() == {
        "name": ["This field is required."],
        "description": ["This field is required."],
    }
    bad = await client.post(
        "/api/products/",
        headers=seller.auth,
        json={"name": "x", "description": "y", "condition": "broken", "category": 999},
    )
    assert bad.json() == {
        "condition": ['"broken" is not a valid choice.'],
        "category": ['Invalid pk "999" - object does not exist.'],
    }
    buyer = await make_user(live_server.settings)
    forbidden = await client.post("/api/products/", headers=buyer.auth, json={"name": "x"})
    assert forbidden.status_code == 403
    assert (await client.post("/api/products/", json={"name": "x"})).status_code == 401
    assert await Product.count() == 0


async def test_fake_image_leaves_nothing_behind(
    client: httpx.AsyncClient, live_server: LiveServer, seller: UserHandle
) -> None:
    before = set(Path(live_server.settings.media_root).rglob("*"))
    response = await client.post(
        "/api/products/",
        headers=seller.auth,
        data={"name": "Fake", "description": "x"},
        files=[
            ("images", ("real.jpg", jpeg(), "image/jpeg")),
            ("images", ("fake.jpg", b"plain text pretending", "image/jpeg")),
        ],
    )
    assert response.status_code == 400 and list(response.json()) == ["images"]
    assert await Product.count() == 0 and await ProductImage.count() == 0
    assert set(Path(live_server.settings.media_root).rglob("*")) == before


async def test_images_add_and_delete(
    client: httpx.AsyncClient, live_server: LiveServer, seller: UserHandle
) -> None:
    product = await create(client, seller, images=1)
    url = f"/api/products/{product['id']}"
    other = await make_user(live_server.settings, role=Role.seller)
    theirs = await client.post(
        f"{url}/add_image/", headers=other.auth, files={"image": ("a.jpg", jpeg(), "image/jpeg")}
    )
    assert (theirs.status_code, theirs.json()) == (
        403,
        {"error": "You can only add images to your own products"},
    )
    none = await client.post(
        f"{url}/add_image/", headers=seller.auth, files={"caption": (None, "x")}
    )
    assert (none.status_code, none.json()) == (400, {"error": "No image file provided"})
    fake = await client.post(
        f"{url}/add_image/", headers=seller.auth, files={"image": ("a.jpg", b"text", "image/jpeg")}
    )
    assert fake.status_code == 400 and list(fake.json()) == ["image"]
    added = await client.post(
        f"{url}/add_image/", headers=seller.auth, files={"image": ("b.png", jpeg(), "image/png")}
    )
    assert added.status_code == 201
    first, second = added.json()["images"]
    assert (first["is_primary"], second["is_primary"], second["order"]) == (True, False, 1)

    not_mine = await client.delete(f"{url}/delete_image/{first['id']}/", headers=other.auth)
    assert not_mine.json() == {"error": "You can only delete images from your own products"}
    unknown = await client.delete(f"{url}/delete_image/999999/", headers=seller.auth)
    assert (unknown.status_code, unknown.json()) == (404, {"error": "Image not found"})
    removed = await client.delete(f"{url}/delete_image/{first['id']}/", headers=seller.auth)
    assert removed.status_code == 200
    remaining = (await client.get(f"{url}/")).json()["images"]
    assert [(i["id"], i["is_primary"]) for i in remaining] == [(second["id"], True)]
    last = await client.delete(f"{url}/delete_image/{second['id']}/", headers=seller.auth)
    assert (last.status_code, last.json()) == (
        400,
        {"error": "Product must have at least one image"},
    )


async def test_delete_product_is_how_the_client_deletes_an_auction(
    client: httpx.AsyncClient, live_server: LiveServer, seller: UserHandle
) -> None:
    buyer = await make_user(live_server.settings)
    auction_id = await make_auction(seller)
    product_id = (await Auction.select(Auction.product).where(Auction.id == auction_id).first())[
        "product"
    ]  # type: ignore[index]
    assert (
        await client.delete(f"/api/products/{product_id}/", headers=buyer.auth)
    ).status_code == 403
    edit = await client.patch(
        f"/api/products/{product_id}/", headers=seller.auth, json={"name": "New"}
    )
    assert edit.status_code == 200 and edit.json()["name"] == "New"
    bid = await client.post(
        f"/api/auctions/{auction_id}/place_bid/", json={"amount": 3000}, headers=buyer.auth
    )
    assert bid.status_code == 201
    refused = await client.delete(f"/api/products/{product_id}/", headers=seller.auth)
    assert (refused.status_code, refused.json()) == (
        400,
        {"error": "Cannot delete a product whose auction has bids"},
    )
    locked = await client.patch(
        f"/api/products/{product_id}/", headers=seller.auth, json={"name": "X"}
    )
    assert locked.json() == {"error": "Cannot edit a product whose auction has bids"}

    unbid = await make_auction(seller)
    unbid_product = (await Auction.select(Auction.product).where(Auction.id == unbid).first())[
        "product"
    ]  # type: ignore[index]
    gone = await client.delete(f"/api/products/{unbid_product}/", headers=seller.auth)
    assert gone.status_code == 204
    assert not await Auction.exists().where(Auction.id == unbid)
    assert not await Product.exists().where(Product.id == unbid_product)


async def test_an_edit_reports_every_bad_field_at_once_and_changes_nothing(
    client: httpx.AsyncClient, seller: UserHandle
) -> None:
    product = await create(client, seller, images=0)
    url = f"/api/products/{product['id']}/"
    for method in ("PATCH", "PUT"):
        bad = await client.request(
            method,
            url,
            headers=seller.auth,
            json={"name": "  ", "description": "x" * 5001, "condition": 5, "category": "abc"},
        )
        assert (bad.status_code, bad.json()) == (
            400,
            {
                "name": ["This field may not be blank."],
                "description": ["Ensure this field has no more than 5000 characters."],
                "condition": ['"5" is not a valid choice.'],
                "category": ["A valid integer is required."],
            },
        )
        beyond = await client.request(
            method, url, headers=seller.auth, json={"name": "x" * 201, "category": 2**31}
        )
        assert beyond.json() == {
            "name": ["Ensure this field has no more than 200 characters."],
            "category": ["A valid integer is required."],
        }
    assert (await client.get(url)).json() == product
    numbered = await client.patch(url, headers=seller.auth, json={"name": 1947, "category": ""})
    assert numbered.status_code == 200
    assert (numbered.json()["name"], numbered.json()["category"]) == ("1947", None)


async def test_an_edit_body_must_be_a_json_object(
    client: httpx.AsyncClient, seller: UserHandle
) -> None:
    product = await create(client, seller, images=0)
    url = f"/api/products/{product['id']}/"
    for body, detail in (
        (b"[1]", "Invalid data. Expected a dictionary, but got list."),
        (b'"x"', "Invalid data. Expected a dictionary."),
    ):
        response = await client.patch(
            url, headers={**seller.auth, "content-type": "application/json"}, content=body
        )
        assert (response.status_code, response.json()) == (400, {"detail": detail})
    broken = await client.patch(
        url, headers={**seller.auth, "content-type": "application/json"}, content=b"{bad"
    )
    assert broken.status_code == 400 and broken.json()["detail"].startswith("JSON parse error")
    empty = await client.patch(url, headers=seller.auth)  # DRF: nothing sent, nothing changed
    assert (empty.status_code, empty.json()) == (200, product)
