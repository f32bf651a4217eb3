"""``/api/auctions/`` over real HTTP, including the existing React client's exact calls."""

from __future__ import annotations

from datetime import timedelta
from io import BytesIO
from pathlib import Path

import httpx
import pytest
from PIL import Image

from madeinpk.accounts.tables import Role
from madeinpk.auctions.tables import Auction, AuctionStatus
from madeinpk.catalog.tables import Category, Product, ProductImage
from madeinpk.timestamps import utc_now
from tests.integration.conftest import LiveServer
from tests.integration.factories import UserHandle, make_auction, make_user

pytestmark = pytest.mark.usefixtures("task_worker", "task_scheduler")

AUCTION_FIELDS = {
    "id", "product", "starting_price", "current_price", "start_time", "end_time", "created_at",
    "status", "winner", "winner_username", "winner_email", "latest_bids", "total_bids",
    "time_remaining", "winning_bid_amount", "order_info",
    # the derived fields (docs/rest-api.md § Auctions)
    "min_increment", "min_next_bid", "reserve_met", "reserve_price", "soft_close_seconds", "seq",
    "server_time", "my_max_bid",
    "buy_now_price", "buy_now_open", "bought_now",  # Buy It Now (docs/rest-api.md)
    "watch_count", "is_watching",  # docs/rest-api.md § Watchlist and reminders
    # relisting (docs/rest-api.md § Relist)
    "auto_relist", "relisted_from", "relisted_as",
}  # fmt: skip
PRODUCT_FIELDS = {
    "id", "seller", "seller_username", "category", "category_name", "name", "description",
    "condition", "images", "listing_type", "seller_profile", "created_at", "updated_at",
}  # fmt: skip


def jpeg(color: str = "teal") -> bytes:
    buffer = BytesIO()
    Image.new("RGB", (64, 48), color).save(buffer, "JPEG")
    return buffer.getvalue()


def iso(delta: timedelta) -> str:
    return (utc_now() + delta).isoformat().replace("+00:00", "Z")


async def test_detail_has_every_field(
    client: httpx.AsyncClient, seller: UserHandle, buyer: UserHandle
) -> None:
    auction_id = await make_auction(seller, images=2)
    for amount in (2600, 2700):
        response = await client.post(
            f"/api/auctions/{auction_id}/place_bid/", json={"amount": amount}, headers=buyer.auth
        )
        assert response.status_code == 201
    response = await client.get(f"/api/auctions/{auction_id}/")
    assert response.status_code == 200
    auction = response.json()
    assert set(auction) == AUCTION_FIELDS
    assert set(auction["product"]) == PRODUCT_FIELDS
    assert auction["product"]["listing_type"] == "auction"
    assert [i["is_primary"] for i in auction["product"]["images"]] == [True, False]
    assert all(i["image_url"].startswith("http") for i in auction["product"]["images"])
    assert (auction["starting_price"], auction["current_price"]) == ("2500.00", "2700.00")
    assert auction["total_bids"] == 2 and auction["winning_bid_amount"] == "2700.00"
    assert [b["amount"] for b in auction["latest_bids"]] == ["2700.00", "2600.00"]
    assert 3500 < auction["time_remaining"] <= 3600
    assert auction["winner"] is None and auction["winner_email"] is None
    assert auction["order_info"] is None
    assert (await client.get("/api/auctions/999999/")).json() == {"detail": "Not found."}


async def test_list_filters_search_ordering_pagination(
    client: httpx.AsyncClient, live_server: LiveServer, seller: UserHandle
) -> None:
    other = await make_user(live_server.settings, role=Role.seller)
    live = await make_auction(seller, name="Blue Pottery Vase", starting_price="100.00")
    await make_auction(seller, name="Ajrak Shawl", starting_price="300.00")
    await make_auction(seller, status=AuctionStatus.ended, ends_in=-timedelta(hours=1))
    await make_auction(seller, starts_in=timedelta(hours=1), ends_in=timedelta(hours=2))
    theirs = await make_auction(other, name="Peshawari Chappal", starting_price="200.00")

    active = (await client.get("/api/auctions/?status=active")).json()
    assert active["count"] == 3  # not the ended one, nor the one that has not started
    assert {a["id"] for a in active["results"]} >= {live, theirs}

    mine = await client.get(
        "/api/auctions/?my_auctions=true&ordering=-created_at&page_size=100", headers=seller.auth
    )
    assert mine.status_code == 200 and mine.json()["count"] == 4
    created = [a["created_at"] for a in mine.json()["results"]]
    assert created == sorted(created, reverse=True)
    anonymous_mine = (await client.get("/api/auctions/?my_auctions=true")).json()
    assert anonymous_mine["count"] == 5  # ignored when anonymous

    by_price = (await client.get("/api/auctions/?status=active&ordering=current_price")).json()
    prices = [a["current_price"] for a in by_price["results"]]
    assert prices == sorted(prices, key=float)
    unknown_order = await client.get("/api/auctions/?ordering=password")
    assert unknown_order.status_code == 200  # ignored

    search = (await client.get("/api/auctions/?search=POTTERY")).json()
    assert [a["id"] for a in search["results"]] == [live]
    by_seller = (await client.get(f"/api/auctions/?seller={other.id}")).json()
    assert [a["id"] for a in by_seller["results"]] == [theirs]

    page = (await client.get("/api/auctions/?page_size=2")).json()
    assert page["count"] == 5 and len(page["results"]) == 2
    assert page["previous"] is None and page["next"].startswith("http")
    assert "page=2" in page["next"] and "page_size=2" in page["next"]
    last = (await client.get("/api/auctions/?page_size=2&page=3")).json()
    assert len(last["results"]) == 1 and last["next"] is None
    out_of_range = await client.get("/api/auctions/?page=9")
    assert (out_of_range.status_code, out_of_range.json()) == (404, {"detail": "Invalid page."})

    for query, field in (
        ("seller=abc", "seller"),
        ("category=x", "category"),
        ("status=won", "status"),
    ):
        bad = await client.get(f"/api/auctions/?{query}")
        assert bad.status_code == 400 and list(bad.json()) == [field]


async def test_create_from_own_product(
    client: httpx.AsyncClient, live_server: LiveServer, seller: UserHandle, buyer: UserHandle
) -> None:
    product = await Product.insert(
        Product(
            seller=seller.id,
            name="Sindhi Ralli Quilt",
            description="Hand-stitched.",
            condition="new",
        )
    ).returning(Product.id)
    product_id = product[0]["id"]
    body = {
        "product_id": product_id,
        "starting_price": "1500.00",
        "start_time": iso(timedelta()),
        "end_time": iso(timedelta(days=2)),
    }
    created = await client.post("/api/auctions/", json=body, headers=seller.auth)
    assert created.status_code == 201, created.text
    assert set(created.json()) == AUCTION_FIELDS
    assert created.json()["current_price"] == "1500.00" and created.json()["status"] == "active"
    again = await client.post("/api/auctions/", json=body, headers=seller.auth)
    assert again.json() == {"product_id": ["Product already has a listing"]}
    not_found = await client.post(
        "/api/auctions/", json={**body, "product_id": 999999}, headers=seller.auth
    )
    assert not_found.json() == {"product_id": ["Product not found"]}
    other_seller = await make_user(live_server.settings, role=Role.seller)
    theirs = await client.post("/api/auctions/", json=body, headers=other_seller.auth)
    assert theirs.json() == {"product_id": ["You can only create auctions for your own products"]}
    as_buyer = await client.post("/api/auctions/", json=body, headers=buyer.auth)
    assert as_buyer.status_code == 403
    backwards = await client.post(
        "/api/auctions/",
        json={**body, "start_time": iso(timedelta(days=2)), "end_time": iso(timedelta(days=1))},
        headers=seller.auth,
    )
    assert backwards.json() == {"non_field_errors": ["End time must be after start time"]}
    too_long = await client.post(
        "/api/auctions/",
        json={**body, "end_time": iso(timedelta(days=31))},
        headers=seller.auth,
    )
    assert too_long.json() == {"non_field_errors": ["An auction can last at most 30 days"]}
    cheap = await client.post(
        "/api/auctions/", json={**body, "starting_price": 0}, headers=seller.auth
    )
    assert cheap.json() == {"starting_price": ["Ensure this value is greater than 0."]}


async def test_react_client_one_step_multipart_creation(
    client: httpx.AsyncClient, live_server: LiveServer, seller: UserHandle
) -> None:
    await Category.insert(Category(id=1, name="Textiles", description=""))
    response = await client.post(
        "/api/auctions/",
        headers=seller.auth,
        data={
            "name": "Handwoven Pashmina Shawl",
            "description": "Kashmiri wool",
            "category": "1",
            "condition": "new",
            "starting_price": "2500",
            "start_time": iso(timedelta()),
            "end_time": iso(timedelta(days=3)),
        },
        files=[
            ("images", ("front.jpg", jpeg("teal"), "image/jpeg")),
            ("images", ("back.jpg", jpeg("red"), "image/jpeg")),
        ],
    )
    assert response.status_code == 201, response.text
    auction = response.json()
    product = auction["product"]
    assert (product["name"], product["category"], product["category_name"]) == (
        "Handwoven Pashmina Shawl",
        1,
        "Textiles",
    )
    assert [(i["is_primary"], i["order"]) for i in product["images"]] == [(True, 0), (False, 1)]
    for image in product["images"]:
        served = await client.get(image["image_url"])
        assert served.status_code == 200 and served.content[:2] == b"\xff\xd8"
    assert auction["starting_price"] == "2500.00"


async def test_fake_image_is_rejected_and_nothing_is_left_behind(
    client: httpx.AsyncClient, live_server: LiveServer, seller: UserHandle
) -> None:
    media = live_server.settings.media_root
    before = set(Path(media).rglob("*"))
    response = await client.post(
        "/api/auctions/",
        headers=seller.auth,
        data={
            "name": "Fake",
            "description": "x",
            "condition": "new",
            "starting_price": "100",
            "start_time": iso(timedelta()),
            "end_time": iso(timedelta(days=1)),
        },
        files=[
            ("images", ("ok.jpg", jpeg(), "image/jpeg")),
            ("images", ("fake.jpg", b"just some text", "image/jpeg")),
        ],
    )
    assert response.status_code == 400
    assert list(response.json()) == ["images"]
    assert await Product.count() == 0 and await Auction.count() == 0
    assert await ProductImage.count() == 0
    assert set(Path(media).rglob("*")) == before


async def test_update_and_delete_rules(
    client: httpx.AsyncClient, live_server: LiveServer, seller: UserHandle, buyer: UserHandle
) -> None:
    auction_id = await make_auction(seller)
    url = f"/api/auctions/{auction_id}/"
    stranger = await make_user(live_server.settings, role=Role.seller)
    assert (
        await client.patch(url, json={"starting_price": "3000"}, headers=stranger.auth)
    ).status_code == 403
    moved = await client.patch(
        url,
        json={"starting_price": "3000", "end_time": iso(timedelta(days=2))},
        headers=seller.auth,
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["starting_price"] == moved.json()["current_price"] == "3000.00"
    replaced = await client.put(url, json={"starting_price": "3100"}, headers=seller.auth)
    assert replaced.status_code == 200 and replaced.json()["starting_price"] == "3100.00"
    bid = await client.post(f"{url}place_bid/", json={"amount": 3200}, headers=buyer.auth)
    assert bid.status_code == 201
    locked = await client.patch(url, json={"starting_price": "100"}, headers=seller.auth)
    assert (locked.status_code, locked.json()) == (
        400,
        {"error": "Cannot edit an auction that has bids"},
    )
    kept = await client.delete(url, headers=seller.auth)
    assert (kept.status_code, kept.json()) == (
        400,
        {"error": "Cannot delete an auction that has bids"},
    )

    fresh = await make_auction(seller)
    assert (await client.delete(f"/api/auctions/{fresh}/", headers=buyer.auth)).status_code == 403
    assert (await client.delete(f"/api/auctions/{fresh}/", headers=seller.auth)).status_code == 204
    assert not await Auction.exists().where(Auction.id == fresh)


async def test_seller_statistics(
    client: httpx.AsyncClient, seller: UserHandle, buyer: UserHandle
) -> None:
    await make_auction(seller)
    stats = await client.get("/api/seller/statistics/", headers=seller.auth)
    assert stats.status_code == 200
    assert stats.json() == {
        "total_sales": 0,
        "total_orders": 0,
        "pending_orders": 0,
        "total_revenue": "0.00",
        "current_month_earnings": "0.00",
        "total_products": 1,
        "active_auctions": 1,
    }
    assert (await client.get("/api/seller/statistics/", headers=buyer.auth)).status_code == 403
    assert (await client.get("/api/seller/statistics/")).status_code == 401


async def test_order_info_and_winner_email_only_for_the_seller(
    client: httpx.AsyncClient, live_server: LiveServer, seller: UserHandle, buyer: UserHandle
) -> None:
    from madeinpk.auctions.lifecycle.endings import end_auction
    from madeinpk.orders.service import AUCTION_ORDERS

    auction_id = await make_auction(seller)
    bid = await client.post(
        f"/api/auctions/{auction_id}/place_bid/", json={"amount": 2600}, headers=buyer.auth
    )
    assert bid.status_code == 201
    await Auction.update({Auction.end_time: utc_now() - timedelta(seconds=1)}).where(
        Auction.id == auction_id
    )
    await end_auction(auction_id, live_server.settings, AUCTION_ORDERS)
    as_seller = (await client.get(f"/api/auctions/{auction_id}/", headers=seller.auth)).json()
    assert as_seller["status"] == "ended" and as_seller["time_remaining"] == 0
    assert (as_seller["winner"], as_seller["winner_username"]) == (buyer.id, buyer.username)
    assert as_seller["winner_email"] == buyer.email
    info = as_seller["order_info"]
    assert set(info) == {
        "order_id", "order_number", "status", "payment_url", "total_amount", "seller_amount",
        "payment_deadline",
    }  # fmt: skip
    assert (info["status"], info["total_amount"], info["seller_amount"]) == (
        "pending_payment",
        "2600.00",
        "2548.00",
    )
    for viewer in ({}, buyer.auth):
        other = (await client.get(f"/api/auctions/{auction_id}/", headers=viewer)).json()
        assert other["winner_email"] is None and other["order_info"] is None
        assert other["winner_username"] == buyer.username


@pytest.mark.parametrize(
    "query", ["page=²", "page_size=²", "seller=²", "category=٣", "page=-1", "seller=99999999999"]
)
async def test_odd_digits_in_query_values_are_client_errors(
    client: httpx.AsyncClient, query: str
) -> None:
    response = await client.get(f"/api/auctions/?{query}")
    assert response.status_code in (200, 400, 404), response.text


async def test_every_bad_term_is_reported_at_once_on_create_and_edit(
    client: httpx.AsyncClient, seller: UserHandle
) -> None:
    product = await Product.insert(
        Product(seller=seller.id, name="Sindhi Ralli Quilt", description="Quilt", condition="new")
    ).returning(Product.id)
    bad = {"starting_price": "12.345", "start_time": "soon", "end_time": None}
    created = await client.post(
        "/api/auctions/", json={"product_id": True, **bad}, headers=seller.auth
    )
    assert (created.status_code, created.json()) == (
        400,
        {
            "product_id": ["A valid integer is required."],
            "starting_price": ["Ensure that there are no more than 2 decimal places."],
            "start_time": [
                "Datetime has wrong format. Use one of these formats instead: "
                "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
            ],
            "end_time": ["This field is required."],
        },
    )
    beyond = {
        "product_id": 2**31,  # beyond any serial id: was a 500 on PostgreSQL
        "starting_price": "1500",
        "start_time": iso(timedelta()),
        "end_time": iso(timedelta(days=1)),
    }
    response = await client.post("/api/auctions/", json=beyond, headers=seller.auth)
    assert (response.status_code, response.json()) == (400, {"product_id": ["Product not found"]})
    minutes = {**beyond, "product_id": product[0]["id"]}
    minutes["end_time"] = (utc_now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    listed = await client.post("/api/auctions/", json=minutes, headers=seller.auth)
    assert listed.status_code == 201, listed.text  # a datetime-local value, naive: UTC

    url = f"/api/auctions/{listed.json()['id']}/"
    for method in ("PATCH", "PUT"):
        edited = await client.request(method, url, json=bad, headers=seller.auth)
        assert edited.status_code == 400
        assert set(edited.json()) == {"starting_price", "start_time", "end_time"}
    not_object = await client.patch(
        url, headers={**seller.auth, "content-type": "application/json"}, content=b"[1]"
    )
    assert not_object.json() == {"detail": "Invalid data. Expected a dictionary, but got list."}
    unchanged = await client.patch(url, json={}, headers=seller.auth)
    assert unchanged.status_code == 200
    assert unchanged.json()["end_time"] == listed.json()["end_time"]
