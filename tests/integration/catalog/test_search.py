"""``?search=`` over real HTTP, products and auctions alike: ranked when no ordering is asked
for, the category's name searched too, misspellings found on PostgreSQL (and, as documented,
not on SQLite), the other filters and the page counts kept, and no input that breaks it."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
import pytest

from madeinpk.accounts.tables import Role
from madeinpk.auctions.tables import Auction, AuctionStatus
from madeinpk.catalog.search import MAX_SEARCH_LENGTH, ProductSearch
from madeinpk.catalog.tables import Category, Product
from madeinpk.timestamps import utc_now
from tests.integration.conftest import ENGINE, LiveServer
from tests.integration.factories import UserHandle, make_user

POSTGRES = ENGINE == "postgres"
LISTS = ("/api/products/", "/api/auctions/")


async def category(name: str) -> int:
    rows = await Category.insert(Category(name=name, description="")).returning(Category.id)
    return int(rows[0]["id"])


async def listed(
    seller: UserHandle,
    name: str,
    *,
    description: str = "Made by hand.",
    category_id: int | None = None,
    age: int = 0,
    status: AuctionStatus = AuctionStatus.active,
) -> int:
    """A product with its auction, created ``age`` minutes ago; returns the product id."""
    created = utc_now() - timedelta(minutes=age)
    [row] = await Product.insert(
        Product(
            seller=seller.id,
            category=category_id,
            name=name,
            description=description,
            condition="new",
            created_at=created,
            updated_at=created,
        )
    ).returning(Product.id)
    now = utc_now()
    await Auction.insert(
        Auction(
            product=row["id"],
            starting_price=Decimal("100.00"),
            current_price=Decimal("100.00"),
            start_time=now - timedelta(hours=1),
            end_time=now + timedelta(hours=1),
            created_at=created,
            status=status.value,
            bid_count=0,
            seq=0,
        )
    )
    return int(row["id"])


async def found(client: httpx.AsyncClient, path: str, query: str) -> tuple[int, list[str]]:
    """The count and the product names of one page of ``path?query``."""
    separator = "" if path.endswith(("?", "&")) else "?"
    response = await client.get(f"{path}{separator}{query}")
    assert response.status_code == 200, response.text
    body = response.json()
    names = [r["product"]["name"] if "product" in r else r["name"] for r in body["results"]]
    return body["count"], names


async def test_ranked_by_where_the_words_are_unless_an_ordering_is_asked_for(
    client: httpx.AsyncClient, seller: UserHandle
) -> None:
    pottery = await category("Pottery")
    # Newest first would be the reverse of relevance.
    await listed(seller, "Blue Pottery Vase", age=30)
    await listed(seller, "Clay Lamp", category_id=pottery, age=20)
    await listed(seller, "Wall Plate", description="Glazed pottery from Multan.", age=10)
    await listed(seller, "Ajrak Shawl", age=0)
    ranked = ["Blue Pottery Vase", "Clay Lamp", "Wall Plate"]
    for path in LISTS:
        assert await found(client, path, "search=pottery") == (3, ranked)
        assert await found(client, path, "search=POTTERY&ordering=nonsense") == (3, ranked)
        assert await found(client, path, "search=pottery&ordering=-created_at") == (
            3,
            ranked[::-1],
        )
        assert await found(client, path, "search=pottery&ordering=created_at") == (3, ranked)
        # An empty or blank search is no search: every row, newest first.
        assert await found(client, path, "search=%20%20") == (4, ["Ajrak Shawl", *ranked[::-1]])


async def test_the_category_name_is_searched(client: httpx.AsyncClient, seller: UserHandle) -> None:
    carpets = await category("Carpets")
    await listed(seller, "Hand-knotted Namda", category_id=carpets)
    await listed(seller, "Peshawari Chappal")
    for path in LISTS:
        assert await found(client, path, "search=carpets") == (1, ["Hand-knotted Namda"])
        assert await found(client, path, "search=CARPET") == (1, ["Hand-knotted Namda"])


async def test_misspellings(client: httpx.AsyncClient, seller: UserHandle) -> None:
    """PostgreSQL finds a word spelt close enough (trigrams), ranked after exact matches;
    SQLite's fallback matches the text as typed only."""
    carpets = await category("Carpets")
    await listed(seller, "Pashmina Shawl", age=3)
    await listed(seller, "Kashmiri Silk Carpet", age=2)
    await listed(seller, "Silver Jhumka", age=1)
    await listed(seller, "Wool Rug", category_id=carpets, age=0)
    for path in LISTS:
        if POSTGRES:
            assert await found(client, path, "search=pashmena") == (1, ["Pashmina Shawl"])
            assert await found(client, path, "search=carpit") == (
                2,
                ["Kashmiri Silk Carpet", "Wool Rug"],  # a name's word, then a category's
            )
            assert await found(client, path, "search=kashmiri%20carpit") == (
                1,
                ["Kashmiri Silk Carpet"],
            )
            # Not every word sharing a beginning: "silk" is not "silver".
            assert await found(client, path, "search=silk") == (1, ["Kashmiri Silk Carpet"])
        else:
            assert await found(client, path, "search=pashmena") == (0, [])
            assert await found(client, path, "search=carpit") == (0, [])
            assert await found(client, path, "search=carpet") == (
                2,
                ["Kashmiri Silk Carpet", "Wool Rug"],
            )


async def test_filters_and_pages_hold(
    client: httpx.AsyncClient, live_server: LiveServer, seller: UserHandle
) -> None:
    """Search with the other filters: the count is of the rows matching all of them, and
    paging walks the ranked list without repeats or gaps."""
    other = await make_user(live_server.settings, role=Role.seller)
    textiles = await category("Textiles")
    for n in range(4):
        await listed(seller, f"Ajrak Shawl {n}", age=n)
    for n in range(3):
        await listed(seller, f"Stole {n}", description="Like a shawl.", age=10 + n)
    await listed(seller, "Old Shawl", status=AuctionStatus.ended, age=20)
    await listed(other, "Their Shawl", category_id=textiles)
    await listed(seller, "Brass Lamp", category_id=textiles)
    names = [f"Ajrak Shawl {n}" for n in range(4)] + [f"Stole {n}" for n in range(3)]
    for path, expected in (
        ("/api/auctions/?status=active&", names),
        ("/api/products/?", [*names[:4], "Old Shawl", *names[4:]]),
    ):
        walked: list[str] = []
        for page in (1, 2, 3):
            url = f"{path}search=shawl&seller={seller.id}&page_size=3&page={page}"
            response = await client.get(url)
            assert response.status_code == 200, response.text
            assert response.json()["count"] == len(expected)
            walked += [
                r["product"]["name"] if "product" in r else r["name"]
                for r in response.json()["results"]
            ]
        assert walked == expected  # relevance across the pages, then newest first
        beyond = await client.get(f"{path}search=shawl&seller={seller.id}&page_size=3&page=4")
        assert (beyond.status_code, beyond.json()) == (404, {"detail": "Invalid page."})
        assert await found(client, path, f"search=shawl&category={textiles}") == (
            1,
            ["Their Shawl"],
        )


# Text and what it finds among "Pashmina Shawl" and "Urdu Label" (None: it depends on the
# engine, only no error matters). Nothing in it is an operator, a wildcard or SQL.
HOSTILE: list[tuple[str, list[str] | None]] = [
    ("'", ["Pashmina Shawl"]),
    ('"', []),
    ("&|!:*()", []),
    ("a & b | !c", []),
    ("pashmina:*", None),  # PostgreSQL: the word "pashmina"
    ("<->", []),
    ("' OR 1=1 --", []),
    ("\\", []),
    ("%", ["Pashmina Shawl"]),
    ("_", []),
    ("(((", []),
    ("شال", ["Urdu Label"]),
    ("😀 shawl", None),
    ("\t", ["Urdu Label", "Pashmina Shawl"]),  # blank: no search
    ("x" * 10_000, []),
    ("shawl " * 1000, None),
]


@pytest.mark.parametrize(("text", "expected"), HOSTILE)
async def test_hostile_text_is_just_text(
    client: httpx.AsyncClient, seller: UserHandle, text: str, expected: list[str] | None
) -> None:
    await listed(seller, "Pashmina Shawl", description="Soft 'wool' & silk (fine): 100%", age=1)
    await listed(seller, "Urdu Label", description="شال")
    for path in LISTS:
        response = await client.get(f"{path}?search={quote(text)}")
        assert response.status_code == 200, response.text
        if expected is not None:
            names = [
                r["product"]["name"] if "product" in r else r["name"]
                for r in response.json()["results"]
            ]
            assert names == expected


async def test_random_text_never_fails(client: httpx.AsyncClient, seller: UserHandle) -> None:
    """Seeded random texts from operator, quoting, wildcard, control, Urdu and odd Unicode
    characters (no NUL or lone surrogate: those are refused before the search is read)."""
    await listed(seller, "Pashmina Shawl", description="Soft 'wool' & silk (fine): 100%")
    alphabet = "ab shawl'\"\\%_&|!:*()<->-+~^$@#;,.?\x01\x7f\u00a0\u2028ش\u0651é😀\u200b\t"
    rng = random.Random(22)
    for _ in range(60):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))
        for path in LISTS:
            response = await client.get(path, params={"search": text})
            assert response.status_code == 200, (text, response.text)


async def test_a_nul_is_refused_as_before(client: httpx.AsyncClient) -> None:
    for path in LISTS:
        response = await client.get(f"{path}?search=shawl%00")
        assert response.status_code == 400
        assert response.json() == {"search": ["Null characters are not allowed."]}


async def test_long_text_is_cut(client: httpx.AsyncClient, seller: UserHandle) -> None:
    """Beyond ``MAX_SEARCH_LENGTH`` the rest is ignored: the first 200 characters decide."""
    name = "Pashmina Shawl"
    await listed(seller, name)
    text = name + " " * (MAX_SEARCH_LENGTH - len(name)) + "zzz-not-in-any-name"
    for path in LISTS:
        assert await found(client, path, f"search={quote(text)}") == (1, [name])


@pytest.mark.postgres_only
async def test_postgres_answers_from_the_indexes(
    live_server: LiveServer, seller: UserHandle
) -> None:
    """With a few thousand products, the planner uses the text-search and trigram indexes of
    the migration (the query's expressions are the indexes' own)."""
    await Product.raw(
        "INSERT INTO product (seller, name, description, condition, created_at, updated_at) "
        "SELECT {}, 'Item ' || md5(g::text), 'Thing ' || md5((g * 7)::text), 'new', now(), now() "
        "FROM generate_series(1, 4000) g",
        seller.id,
    )
    # As autovacuum would: statistics, and the GIN indexes' pending lists merged.
    await Product.raw("VACUUM ANALYZE product")
    query = Product.select(Product.id).where(ProductSearch("carpit").matches(Product.id))
    sql, args = query.querystrings[0].compile_string(engine_type="postgres")
    connection = await asyncpg.connect(live_server.settings.database.url)
    try:
        plan: list[Any] = await connection.fetch(f"EXPLAIN {sql}", *args)
    finally:
        await connection.close()
    text = "\n".join(row[0] for row in plan)
    for index in ("product_search_document", "product_name_trgm", "product_description_trgm"):
        assert index in text, text


async def test_the_openapi_document_says_what_search_does(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    for path in ("/api/products", "/api/auctions"):
        [search] = [p for p in paths[path]["get"]["parameters"] if p["name"] == "search"]
        assert search["in"] == "query" and "spelt close to it" in search["description"]
        assert f"At most {MAX_SEARCH_LENGTH} characters" in search["description"]
