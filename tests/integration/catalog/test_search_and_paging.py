"""``?search=`` matches text literally on both engines; ``?page_size=`` behaves as DRF's."""

from __future__ import annotations

import httpx
import pytest

from madeinpk.catalog.tables import Category, Product
from madeinpk.http.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from madeinpk.timestamps import utc_now
from tests.integration.conftest import LiveServer
from tests.integration.factories import UserHandle, make_auction

pytestmark = pytest.mark.usefixtures("task_worker", "task_scheduler")

NAMES = ["100% Pashmina Shawl", "Blue_Pottery Vase", "Back\\slash Box", "Plain Clay Pot"]


async def names(client: httpx.AsyncClient, url: str) -> list[str]:
    response = await client.get(url)
    assert response.status_code == 200, response.text
    return sorted(
        r["product"]["name"] if "product" in r else r["name"] for r in response.json()["results"]
    )


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("%25", ["100% Pashmina Shawl"]),
        ("_", ["Blue_Pottery Vase"]),
        ("%5C", ["Back\\slash Box"]),  # a backslash, the escape character itself
        ("%25%25", []),
        ("e_p", ["Blue_Pottery Vase"]),  # case still ignored, "_" still literal
        ("0%25 p", ["100% Pashmina Shawl"]),
        ("pot", ["Blue_Pottery Vase", "Plain Clay Pot"]),
    ],
)
async def test_wildcards_in_search_are_literal(
    client: httpx.AsyncClient, seller: UserHandle, search: str, expected: list[str]
) -> None:
    for name in NAMES:
        await make_auction(seller, name=name)
    assert await names(client, f"/api/products/?search={search}&page_size=100") == expected
    assert await names(client, f"/api/auctions/?search={search}&page_size=100") == expected


async def make_products(seller: UserHandle, count: int) -> None:
    now = utc_now()
    await Product.insert(
        *(
            Product(
                seller=seller.id, name=f"Item {n}", description="", created_at=now, updated_at=now
            )
            for n in range(count)
        )
    )


@pytest.mark.parametrize(
    ("page_size", "expected"),
    [
        ("-1", DEFAULT_PAGE_SIZE),  # negative: the default, as DRF
        ("0", DEFAULT_PAGE_SIZE),
        ("abc", DEFAULT_PAGE_SIZE),
        ("2.5", DEFAULT_PAGE_SIZE),
        ("", DEFAULT_PAGE_SIZE),
        ("9" * 5000, DEFAULT_PAGE_SIZE),  # beyond int()'s digit limit: not a number
        ("5", 5),
        ("+5", 5),  # DRF reads the value with int(), which takes a sign and spaces
        ("%205%20", 5),
        ("25", 25),
    ],
)
async def test_page_size_falls_back_like_drf(
    client: httpx.AsyncClient, seller: UserHandle, page_size: str, expected: int
) -> None:
    await make_products(seller, 30)
    response = await client.get(f"/api/products/?page_size={page_size}")
    assert response.status_code == 200
    page = response.json()
    assert page["count"] == 30 and len(page["results"]) == expected
    assert (page["next"] is None) == (expected >= 30)


async def test_page_size_above_the_maximum_is_clamped(
    client: httpx.AsyncClient, live_server: LiveServer
) -> None:
    await Category.insert(*(Category(name=f"Craft {n:03}") for n in range(MAX_PAGE_SIZE + 5)))
    page = (await client.get("/api/categories/?page_size=1000")).json()
    assert page["count"] == MAX_PAGE_SIZE + 5
    assert len(page["results"]) == MAX_PAGE_SIZE and page["next"] is not None
    second = (await client.get(page["next"])).json()
    assert len(second["results"]) == 5 and second["next"] is None
