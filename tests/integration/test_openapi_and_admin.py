"""The generated OpenAPI schema (valid 3.1, complete, honest under fuzzing) and the admin panel."""

from __future__ import annotations

import asyncio
import os
import sys

import httpx
import pytest
from openapi_spec_validator import validate

from madeinpk.accounts.tables import Role
from tests.integration.conftest import LiveServer
from tests.integration.factories import PASSWORD, make_auction, make_user

CONTRACT_PATHS = {
    "/api/auth/register", "/api/auth/login", "/api/auth/logout", "/api/auth/profile",
    "/api/auth/become-seller", "/api/categories", "/api/categories/{category_id}",
    "/api/products", "/api/products/{product_id}", "/api/products/{product_id}/add_image",
    "/api/products/{product_id}/delete_image/{image_id}", "/api/auctions",
    "/api/auctions/{auction_id}", "/api/auctions/{auction_id}/place_bid",
    "/api/auctions/{auction_id}/bids", "/api/seller/statistics", "/api/orders",
    "/api/orders/{order_id}", "/api/orders/{order_id}/confirm_payment",
    "/api/orders/{order_id}/mark_shipped", "/api/feedbacks",
}  # fmt: skip


async def test_schema_is_valid_openapi_31_and_lists_the_contract(client: httpx.AsyncClient) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    validate(spec)
    assert spec["openapi"].startswith("3.1")
    assert CONTRACT_PATHS <= set(spec["paths"])
    create = spec["paths"]["/api/auctions"]["post"]["requestBody"]["content"]
    assert set(create) == {"application/json", "multipart/form-data"}
    register = spec["paths"]["/api/auth/register"]["post"]
    assert register["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "RegisterRequest"
    )
    assert register["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "ErrorBody"
    )


async def test_request_bodies_show_their_constraints(client: httpx.AsyncClient) -> None:
    """The checks of a request field and its schema come from one declaration."""
    spec = (await client.get("/schema/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    for path, component in (
        ("/api/products/{product_id}", "ProductUpdate"),
        ("/api/auctions/{auction_id}", "AuctionUpdate"),
    ):
        for method in ("patch", "put"):
            body = spec["paths"][path][method]["requestBody"]["content"]
            assert body == {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{component}"}}
            }
    product = schemas["ProductUpdate"]["properties"]
    name = product["name"]["anyOf"][0]
    assert (name["type"], name["minLength"], name["maxLength"]) == ("string", 1, 200)
    assert product["description"]["anyOf"][0]["maxLength"] == 5000
    assert product["condition"]["anyOf"][0] == {"$ref": "#/components/schemas/Condition"}
    assert set(schemas["Condition"]["enum"]) == {"new", "like_new", "good", "fair"}
    category = product["category"]["anyOf"][0]
    assert (category["type"], category["minimum"], category["maximum"]) == (
        "integer",
        0,
        2**31 - 1,
    )
    for component in ("AuctionCreate", "AuctionUpdate"):
        terms = schemas[component]["properties"]
        price = terms["starting_price"]
        assert price["type"] == ["number", "string"]
        assert (price["exclusiveMinimum"], price["maximum"], price["multipleOf"]) == (
            0,
            99999999.99,
            0.01,
        )
        assert terms["start_time"]["format"] == terms["end_time"]["format"] == "date-time"
    product_id = schemas["AuctionCreate"]["properties"]["product_id"]
    assert (product_id["type"], product_id["minimum"], product_id["maximum"]) == (
        "integer",
        1,
        2**31 - 1,
    )


@pytest.mark.usefixtures("task_worker", "task_scheduler")
async def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    live_server: LiveServer,
) -> None:
    """A few hundred generated requests, logged in as a seller with a live auction to hit."""
    seller = await make_user(live_server.settings, role=Role.seller)
    await make_auction(seller, images=1)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "schemathesis.cli", "run", f"{live_server.url}/schema/openapi.json",
        "--checks", "not_a_server_error,response_schema_conformance",
        "--phases", "examples,fuzzing", "--max-examples", "6", "--seed", "7",
        "--header", f"Authorization: Token {seller.token}",
        "--exclude-operation-id", "Logout",  # it would revoke the token mid-run
        "--request-timeout", "15",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    output, _ = await process.communicate()
    report = output.decode(errors="replace")
    assert process.returncode == 0, report[-6000:]
    assert " passed" in report


async def test_admin_panel_is_mounted_and_staff_only(
    client: httpx.AsyncClient, live_server: LiveServer
) -> None:
    page = await client.get("/admin/")
    assert page.status_code == 200 and "<html" in page.text.lower()
    staff = await make_user(live_server.settings, role=Role.admin, staff=True)
    ordinary = await make_user(live_server.settings)

    async def admin_tables(username: str) -> httpx.Response:
        """Sign in to the admin as a browser would (CSRF cookie echoed), then list tables."""
        async with httpx.AsyncClient(base_url=live_server.url) as browser:
            await browser.get("/admin/")
            csrf = browser.cookies.get("csrftoken") or ""
            await browser.post(
                "/admin/public/login/",
                json={"username": username, "password": PASSWORD},
                headers={"X-CSRFToken": csrf},
            )
            return await browser.get("/admin/api/tables/")

    tables = await admin_tables(staff.username)
    assert tables.status_code == 200
    assert {"auction", "bid", "piccolo_user", "auction_order", "outbox_email"} <= set(tables.json())
    assert (await admin_tables(ordinary.username)).status_code in (401, 403)  # staff only


async def test_the_bid_and_the_auction_options_show_their_constraints(
    client: httpx.AsyncClient,
) -> None:
    """``place_bid``'s body and the auction options: the schema is the declaration the body is
    read by."""
    spec = (await client.get("/schema/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    body = spec["paths"]["/api/auctions/{auction_id}/place_bid"]["post"]["requestBody"]
    assert body["content"] == {
        "application/json": {"schema": {"$ref": "#/components/schemas/BidAmount"}}
    }
    money = {
        "type": ["number", "string"],
        "exclusiveMinimum": 0,
        "maximum": 99999999.99,
        "multipleOf": 0.01,
        "pattern": r"^[0-9]{1,8}(\.[0-9]{1,2})?$",
    }

    def constraints(node: dict[str, object]) -> dict[str, object]:
        return {k: v for k, v in node.items() if k in money}

    bid = schemas["BidAmount"]["properties"]
    assert constraints(bid["amount"]) == money
    max_amount = bid["max_amount"]["anyOf"]
    assert constraints(max_amount[0]) == money and max_amount[1] == {"type": "null"}
    for component in ("AuctionCreate", "AuctionUpdate", "AuctionCreateForm"):
        options = schemas[component]["properties"]
        for name in ("min_increment", "reserve_price"):
            variants = options[name]["anyOf"]
            assert constraints(variants[0]) == money, (component, name)
            assert {"type": "null"} in variants, (component, name)
        soft_close = options["soft_close_seconds"]
        soft_close = soft_close.get("anyOf", [soft_close])[0]
        assert (soft_close["type"], soft_close["minimum"], soft_close["maximum"]) == (
            "integer",
            0,
            3600,
        ), component
    assert (
        "empty"
        in schemas["AuctionCreateForm"]["properties"]["min_increment"]["anyOf"][0]["description"]
    )
