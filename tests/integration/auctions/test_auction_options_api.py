"""The auction options (docs/auction-rules.md § 1) on REST create and update, in the admin and
in the OpenAPI schema, and the derived fields (docs/rest-api.md § Auctions) in the REST Auction
body and ``auction_status``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from decimal import Decimal
from io import BytesIO
from typing import Any

import httpx
import pytest
from PIL import Image

from madeinpk.accounts.tables import Role
from madeinpk.auctions.tables import Auction
from madeinpk.catalog.tables import Product
from madeinpk.money import to_money
from madeinpk.timestamps import utc_now
from tests.integration.conftest import LiveServer
from tests.integration.factories import PASSWORD, UserHandle, make_auction, make_user
from tests.integration.sockets import watch

pytestmark = pytest.mark.usefixtures("task_worker", "task_scheduler")

RESERVE_BELOW_START = "Reserve price must be at least the starting price."
DERIVED = {
    "min_increment", "min_next_bid", "reserve_met", "reserve_price", "soft_close_seconds", "seq",
    "server_time", "my_max_bid",
}  # fmt: skip


def iso(delta: timedelta) -> str:
    return (utc_now() + delta).isoformat().replace("+00:00", "Z")


def jpeg() -> bytes:
    buffer = BytesIO()
    Image.new("RGB", (32, 24), "teal").save(buffer, "JPEG")
    return buffer.getvalue()


async def own_product(seller: UserHandle) -> int:
    rows = await Product.insert(
        Product(seller=seller.id, name="Kashmiri Silk Carpet", description="Silk.", condition="new")
    ).returning(Product.id)
    return int(rows[0]["id"])


def create_body(product_id: int, **options: Any) -> dict[str, Any]:
    return {
        "product_id": product_id,
        "starting_price": "25000.00",
        "start_time": iso(timedelta()),
        "end_time": iso(timedelta(days=2)),
        **options,
    }


async def stored_options(auction_id: int) -> tuple[str | None, str | None, int]:
    row = (
        await Auction.select(
            Auction.min_increment, Auction.reserve_price, Auction.soft_close_seconds
        )
        .where(Auction.id == auction_id)
        .first()
    )
    assert row is not None
    money = [f"{to_money(row[k]):.2f}" if row[k] is not None else None for k in row][:2]
    return money[0], money[1], row["soft_close_seconds"]


# --- create --------------------------------------------------------------------------------------


async def test_json_create_takes_the_options_and_only_the_seller_sees_the_reserve(
    client: httpx.AsyncClient, seller: UserHandle, buyer: UserHandle
) -> None:
    body = create_body(
        await own_product(seller),
        min_increment="500",
        reserve_price=30000,
        soft_close_seconds=120,
    )
    created = await client.post("/api/auctions/", json=body, headers=seller.auth)
    assert created.status_code == 201, created.text
    auction = created.json()
    assert DERIVED <= set(auction)
    assert {k: auction[k] for k in DERIVED - {"server_time"}} == {
        "min_increment": "500.00",
        "min_next_bid": "25500.00",
        "reserve_met": False,
        "reserve_price": "30000.00",  # the caller is the seller
        "soft_close_seconds": 120,
        "seq": 0,
        "my_max_bid": None,
    }
    assert auction["server_time"].endswith("Z")
    assert await stored_options(auction["id"]) == ("500.00", "30000.00", 120)
    for headers in ({}, buyer.auth):
        other = (await client.get(f"/api/auctions/{auction['id']}/", headers=headers)).json()
        assert other["reserve_price"] is None and other["reserve_met"] is False
        assert "30000" not in str(other)
        listed = (await client.get("/api/auctions/", headers=headers)).json()["results"]
        assert [a["reserve_price"] for a in listed] == [None]
    mine = (await client.get("/api/auctions/?my_auctions=true", headers=seller.auth)).json()
    assert [a["reserve_price"] for a in mine["results"]] == ["30000.00"]


async def test_without_options_an_auction_keeps_the_plain_rules(
    client: httpx.AsyncClient, seller: UserHandle
) -> None:
    created = await client.post(
        "/api/auctions/", json=create_body(await own_product(seller)), headers=seller.auth
    )
    assert created.status_code == 201, created.text
    auction = created.json()
    assert (auction["min_increment"], auction["min_next_bid"]) == ("0.01", "25000.01")
    assert (auction["reserve_met"], auction["reserve_price"]) == (None, None)
    assert auction["soft_close_seconds"] == 0  # the SOFT_CLOSE_SECONDS setting's default
    assert await stored_options(auction["id"]) == (None, None, 0)


async def test_explicit_nulls_mean_no_increment_and_no_reserve(
    client: httpx.AsyncClient, seller: UserHandle
) -> None:
    body = create_body(await own_product(seller), min_increment=None, reserve_price=None)
    created = await client.post("/api/auctions/", json=body, headers=seller.auth)
    assert created.status_code == 201, created.text
    assert await stored_options(created.json()["id"]) == (None, None, 0)


async def test_multipart_one_step_create_takes_the_options(
    client: httpx.AsyncClient, seller: UserHandle
) -> None:
    form = {
        "name": "Ceramic Dinner Set",
        "description": "Multani blue pottery.",
        "condition": "new",
        "starting_price": "4200",
        "start_time": iso(timedelta()),
        "end_time": iso(timedelta(days=3)),
        "min_increment": "100.00",
        "reserve_price": "5000",
        "soft_close_seconds": "300",
    }
    files = [("images", ("front.jpg", jpeg(), "image/jpeg"))]
    created = await client.post("/api/auctions/", data=form, files=files, headers=seller.auth)
    assert created.status_code == 201, created.text
    auction = created.json()
    assert (auction["min_increment"], auction["reserve_price"], auction["soft_close_seconds"]) == (
        "100.00",
        "5000.00",
        300,
    )
    assert await stored_options(auction["id"]) == ("100.00", "5000.00", 300)

    # A form cannot send null: an empty value is "none", and for soft close "the default".
    blank = {**form, "min_increment": "", "reserve_price": "", "soft_close_seconds": ""}
    created = await client.post("/api/auctions/", data=blank, files=files, headers=seller.auth)
    assert created.status_code == 201, created.text
    assert await stored_options(created.json()["id"]) == (None, None, 0)


BAD_OPTIONS: list[tuple[dict[str, Any], dict[str, list[str]]]] = [
    ({"min_increment": "abc"}, {"min_increment": ["A valid number is required."]}),
    ({"min_increment": 0}, {"min_increment": ["Ensure this value is greater than 0."]}),
    ({"min_increment": -10}, {"min_increment": ["Ensure this value is greater than 0."]}),
    (
        {"min_increment": "10.005"},
        {"min_increment": ["Ensure that there are no more than 2 decimal places."]},
    ),
    (
        {"min_increment": 100000000},
        {"min_increment": ["Ensure that there are no more than 10 digits in total."]},
    ),
    ({"min_increment": True}, {"min_increment": ["A valid number is required."]}),
    ({"min_increment": "NaN"}, {"min_increment": ["A valid number is required."]}),
    ({"min_increment": ""}, {"min_increment": ["A valid number is required."]}),
    ({"reserve_price": "24999.99"}, {"reserve_price": [RESERVE_BELOW_START]}),
    ({"reserve_price": [30000]}, {"reserve_price": ["A valid number is required."]}),
    ({"reserve_price": "٣٠٠٠٠"}, {"reserve_price": ["A valid number is required."]}),
    (
        {"soft_close_seconds": 3601},
        {"soft_close_seconds": ["Ensure this value is less than or equal to 3600."]},
    ),
    (
        {"soft_close_seconds": 10**30},
        {"soft_close_seconds": ["Ensure this value is less than or equal to 3600."]},
    ),
    (
        {"soft_close_seconds": -1},
        {"soft_close_seconds": ["Ensure this value is greater than or equal to 0."]},
    ),
    ({"soft_close_seconds": 1.5}, {"soft_close_seconds": ["A valid integer is required."]}),
    ({"soft_close_seconds": "two"}, {"soft_close_seconds": ["A valid integer is required."]}),
    ({"soft_close_seconds": True}, {"soft_close_seconds": ["A valid integer is required."]}),
    ({"soft_close_seconds": {"s": 1}}, {"soft_close_seconds": ["A valid integer is required."]}),
    ({"soft_close_seconds": "1e2"}, {"soft_close_seconds": ["A valid integer is required."]}),
    ({"soft_close_seconds": ""}, {"soft_close_seconds": ["A valid integer is required."]}),
    ({"soft_close_seconds": None}, {"soft_close_seconds": ["This field may not be null."]}),
    (
        {"min_increment": "x", "reserve_price": "1", "soft_close_seconds": 9999},
        {
            "min_increment": ["A valid number is required."],
            "reserve_price": [RESERVE_BELOW_START],
            "soft_close_seconds": ["Ensure this value is less than or equal to 3600."],
        },
    ),
]


@pytest.mark.parametrize(("options", "errors"), BAD_OPTIONS)
async def test_every_bad_option_is_a_field_error_and_creates_nothing(
    client: httpx.AsyncClient,
    seller: UserHandle,
    options: dict[str, Any],
    errors: dict[str, list[str]],
) -> None:
    body = create_body(await own_product(seller), **options)
    response = await client.post("/api/auctions/", json=body, headers=seller.auth)
    assert (response.status_code, response.json()) == (400, errors)
    assert await Auction.count() == 0


async def test_option_errors_come_with_the_other_field_errors(
    client: httpx.AsyncClient, seller: UserHandle
) -> None:
    body = {**create_body(0), "product_id": None, "starting_price": 0, "soft_close_seconds": 4000}
    response = await client.post("/api/auctions/", json=body, headers=seller.auth)
    assert response.status_code == 400
    assert response.json() == {
        "product_id": ["This field is required."],
        "starting_price": ["Ensure this value is greater than 0."],
        "soft_close_seconds": ["Ensure this value is less than or equal to 3600."],
    }


@pytest.mark.parametrize(
    ("options", "errors"),
    [
        (
            {"soft_close_seconds": "3601"},
            {"soft_close_seconds": ["Ensure this value is less than or equal to 3600."]},
        ),
        ({"soft_close_seconds": "1.5"}, {"soft_close_seconds": ["A valid integer is required."]}),
        ({"soft_close_seconds": " "}, {"soft_close_seconds": ["A valid integer is required."]}),
        ({"soft_close_seconds": "1e2"}, {"soft_close_seconds": ["A valid integer is required."]}),
        ({"min_increment": " "}, {"min_increment": ["A valid number is required."]}),
        ({"reserve_price": "100"}, {"reserve_price": [RESERVE_BELOW_START]}),
        ({"min_increment": "0"}, {"min_increment": ["Ensure this value is greater than 0."]}),
    ],
)
async def test_bad_options_in_the_one_step_form_create_nothing(
    client: httpx.AsyncClient,
    seller: UserHandle,
    options: dict[str, str],
    errors: dict[str, list[str]],
) -> None:
    form = {
        "name": "Wooden Jewelry Box",
        "description": "Sheesham wood.",
        "condition": "new",
        "starting_price": "1800",
        "start_time": iso(timedelta()),
        "end_time": iso(timedelta(days=1)),
        **options,
    }
    files = [("images", ("box.jpg", jpeg(), "image/jpeg"))]
    response = await client.post("/api/auctions/", data=form, files=files, headers=seller.auth)
    assert (response.status_code, response.json()) == (400, errors)
    assert await Auction.count() == 0 and await Product.count() == 0


# --- update --------------------------------------------------------------------------------------


async def test_options_change_while_there_are_no_bids(
    client: httpx.AsyncClient, live_server: LiveServer, seller: UserHandle, buyer: UserHandle
) -> None:
    auction_id = await make_auction(seller, starting_price="2500.00")
    url = f"/api/auctions/{auction_id}/"
    changed = await client.patch(
        url,
        json={"min_increment": "100", "reserve_price": "4000", "soft_close_seconds": 60},
        headers=seller.auth,
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["min_increment"], body["min_next_bid"], body["reserve_price"]) == (
        "100.00",
        "2600.00",
        "4000.00",
    )
    assert body["soft_close_seconds"] == 60
    assert await stored_options(auction_id) == ("100.00", "4000.00", 60)

    # Absent fields stay; null clears; PUT is a partial update too.
    kept = await client.put(url, json={"soft_close_seconds": 0}, headers=seller.auth)
    assert kept.status_code == 200
    assert await stored_options(auction_id) == ("100.00", "4000.00", 0)
    cleared = await client.patch(url, json={"min_increment": None}, headers=seller.auth)
    assert cleared.status_code == 200 and cleared.json()["min_increment"] == "0.01"
    assert await stored_options(auction_id) == (None, "4000.00", 0)

    # The reserve is checked against the starting price in force, old or new.
    for patch in ({"starting_price": "4000.01"}, {"reserve_price": "2499.99"}):
        refused = await client.patch(url, json=patch, headers=seller.auth)
        assert (refused.status_code, refused.json()) == (
            400,
            {"reserve_price": [RESERVE_BELOW_START]},
        )
    raised = await client.patch(
        url, json={"starting_price": "4500", "reserve_price": "4500"}, headers=seller.auth
    )
    assert raised.status_code == 200 and raised.json()["reserve_met"] is True
    for patch, errors in BAD_OPTIONS:
        if patch.get("reserve_price") == "24999.99":  # valid here: the start is 4500.00
            patch = {"reserve_price": "4499.99"}
        refused = await client.patch(url, json=patch, headers=seller.auth)
        assert (refused.status_code, refused.json()) == (400, errors), patch
    assert await stored_options(auction_id) == (None, "4500.00", 0)
    row = await Auction.select(Auction.starting_price).where(Auction.id == auction_id).first()
    assert row is not None and to_money(row["starting_price"]) == Decimal("4500.00")

    stranger = await make_user(live_server.settings, role=Role.seller)
    assert (
        await client.patch(url, json={"soft_close_seconds": 5}, headers=stranger.auth)
    ).status_code == 403
    bid = await client.post(f"{url}place_bid/", json={"amount": 4600}, headers=buyer.auth)
    assert bid.status_code == 201, bid.text
    locked = await client.patch(url, json={"reserve_price": None}, headers=seller.auth)
    assert (locked.status_code, locked.json()) == (
        400,
        {"error": "Cannot edit an auction that has bids"},
    )
    assert await stored_options(auction_id) == (None, "4500.00", 0)


# --- derived fields ------------------------------------------------------------------------------


async def test_derived_fields_follow_the_bids_in_rest_and_the_socket(
    client: httpx.AsyncClient, live_server: LiveServer, seller: UserHandle, buyer: UserHandle
) -> None:
    auction_id = await make_auction(
        seller, min_increment="100.00", reserve_price="3000.00", soft_close_seconds=30
    )
    async with watch(live_server.url, auction_id, buyer.token, snapshot=False) as ws:
        data = (await ws.receive())["data"]
    assert "reserve_price" not in data  # REST only, seller only
    assert {k: data[k] for k in DERIVED - {"reserve_price", "server_time"}} == {
        "min_increment": "100.00",
        "min_next_bid": "2600.00",
        "reserve_met": False,
        "soft_close_seconds": 30,
        "seq": 0,
        "my_max_bid": None,
    }
    low = await client.post(
        f"/api/auctions/{auction_id}/place_bid/", json={"amount": 2550}, headers=buyer.auth
    )
    assert (low.status_code, low.json()) == (400, {"amount": ["Bid must be at least 2600.00"]})
    placed = await client.post(
        f"/api/auctions/{auction_id}/place_bid/",
        json={"amount": 3000, "max_amount": 3500},
        headers=buyer.auth,
    )
    assert placed.status_code == 201, placed.text
    as_buyer = (await client.get(f"/api/auctions/{auction_id}/", headers=buyer.auth)).json()
    assert (as_buyer["min_next_bid"], as_buyer["reserve_met"], as_buyer["seq"]) == (
        "3100.00",
        True,
        1,
    )
    assert (as_buyer["my_max_bid"], as_buyer["reserve_price"]) == ("3500.00", None)
    as_seller = (await client.get(f"/api/auctions/{auction_id}/", headers=seller.auth)).json()
    assert (as_seller["my_max_bid"], as_seller["reserve_price"]) == (None, "3000.00")
    async with watch(live_server.url, auction_id, buyer.token, snapshot=False) as ws:
        mine = (await ws.receive())["data"]
    async with watch(live_server.url, auction_id, snapshot=False) as ws:
        spectator = (await ws.receive())["data"]
    assert (mine["my_max_bid"], mine["seq"], mine["min_next_bid"]) == ("3500.00", 1, "3100.00")
    assert spectator["my_max_bid"] is None and "3500" not in str(spectator)
    assert [b["auto"] for b in mine["latest_bids"]] == [False]


# --- admin and schema ----------------------------------------------------------------------------


@asynccontextmanager
async def admin_session(live_server: LiveServer, username: str) -> AsyncIterator[httpx.AsyncClient]:
    """Signed in to the admin as a browser is (the CSRF cookie echoed on every write)."""
    async with httpx.AsyncClient(base_url=live_server.url) as browser:
        await browser.get("/admin/")
        browser.headers["X-CSRFToken"] = browser.cookies.get("csrftoken") or ""
        login = await browser.post(
            "/admin/public/login/", json={"username": username, "password": PASSWORD}
        )
        assert login.status_code in (200, 303), login.text
        yield browser


async def test_admin_shows_and_edits_the_options_by_the_same_rules(
    live_server: LiveServer, seller: UserHandle
) -> None:
    staff = await make_user(live_server.settings, role=Role.admin, staff=True)
    auction_id = await make_auction(seller)
    async with admin_session(live_server, staff.username) as admin:
        schema = (await admin.get("/admin/api/tables/auction/schema/")).json()
        assert {"min_increment", "reserve_price", "soft_close_seconds"} <= set(schema["properties"])
        url = f"/admin/api/tables/auction/{auction_id}/"
        row = (await admin.get(url)).json()
        assert {"min_increment", "reserve_price", "soft_close_seconds"} <= set(row)
        edited = await admin.patch(
            url,
            json={"min_increment": "50.00", "reserve_price": "3000.00", "soft_close_seconds": 90},
        )
        assert edited.status_code == 200, edited.text
        assert await stored_options(auction_id) == ("50.00", "3000.00", 90)
        for bad in (
            {"soft_close_seconds": 3601},
            {"soft_close_seconds": -5},
            {"reserve_price": "100.00"},
            {"min_increment": "0"},
            {"starting_price": "3500.00"},  # above the reserve
        ):
            refused = await admin.patch(url, json=bad)
            assert refused.status_code == 400, (bad, refused.text)
        assert await stored_options(auction_id) == ("50.00", "3000.00", 90)


async def test_openapi_documents_the_options_and_the_derived_fields(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/schema/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    options = {"min_increment", "reserve_price", "soft_close_seconds"}
    for name in ("AuctionCreate", "AuctionCreateForm", "AuctionUpdate"):
        assert options <= set(schemas[name]["properties"]), name
    assert DERIVED <= set(schemas["Auction"]["properties"])
    assert DERIVED <= set(schemas["Auction"]["required"])


async def test_options_read_as_drf_reads_them_in_json_and_in_the_form(
    client: httpx.AsyncClient, seller: UserHandle
) -> None:
    """A signed integer with spaces or a zero fraction is one; in the one-step form an empty
    option is none (the default); as JSON, the one-step body reads the options as JSON does."""
    body = create_body(await own_product(seller), soft_close_seconds=" +90.0 ", min_increment=5)
    created = await client.post("/api/auctions/", json=body, headers=seller.auth)
    assert created.status_code == 201, created.text
    assert await stored_options(created.json()["id"]) == ("5.00", None, 90)
    terms = {
        "starting_price": "1800",
        "start_time": iso(timedelta()),
        "end_time": iso(timedelta(days=1)),
    }
    product = {"name": "Wooden Jewelry Box", "description": "Sheesham wood.", **terms}
    empty = {"min_increment": "", "reserve_price": "", "soft_close_seconds": ""}
    files = [("images", ("box.jpg", jpeg(), "image/jpeg"))]
    form = await client.post(
        "/api/auctions/", data={**product, **empty}, files=files, headers=seller.auth
    )
    assert form.status_code == 201, form.text
    default = form.json()["soft_close_seconds"]  # the SOFT_CLOSE_SECONDS setting
    assert await stored_options(form.json()["id"]) == (None, None, default)
    as_json = await client.post("/api/auctions/", json={**product, **empty}, headers=seller.auth)
    assert (as_json.status_code, as_json.json()) == (
        400,
        {
            "min_increment": ["A valid number is required."],
            "reserve_price": ["A valid number is required."],
            "soft_close_seconds": ["A valid integer is required."],
        },
    )
    nulls = {"min_increment": None, "reserve_price": None, "soft_close_seconds": "+12"}
    one_step = await client.post("/api/auctions/", json={**product, **nulls}, headers=seller.auth)
    assert one_step.status_code == 201, one_step.text
    assert await stored_options(one_step.json()["id"]) == (None, None, 12)
