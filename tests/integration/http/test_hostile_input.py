"""Input that cannot be decoded is the client's error, never a 500 (issue #20): JSON nested
past the recursion limit, bytes that are not UTF-8, numbers past the database's range, path
ids in other scripts' digits. Over a real server, against every endpoint that reads a body."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

from tests.integration.factories import UserHandle

DEEP = b"[" * 1000 + b"]" * 1000
DEEP_OBJECT = b'{"a":' * 1000 + b"1" + b"}" * 1000
NOT_UTF8 = b'{"amount": "\xff\xfe"}'
NOT_UTF8_KEY = b'{"\xff": 1}'

# (method, path, who): every endpoint that reads a JSON body. "seller" and "buyer" sign in.
JSON_ENDPOINTS = [
    ("POST", "/api/auctions/{auction}/place_bid/", "buyer"),
    ("POST", "/api/auth/login/", None),
    ("POST", "/api/auth/register/", None),
    ("POST", "/api/addresses/", "buyer"),
    ("POST", "/api/feedbacks/", "buyer"),
    ("PATCH", "/api/auth/profile/", "buyer"),
    ("POST", "/api/auth/become-seller/", "buyer"),
    ("POST", "/api/auctions/", "seller"),
    ("PATCH", "/api/auctions/{auction}/", "seller"),
    ("POST", "/api/products/", "seller"),
]


def _headers(who: str | None, seller: UserHandle, buyer: UserHandle) -> dict[str, str]:
    return {"buyer": buyer.auth, "seller": seller.auth}.get(who or "", {})


@pytest.mark.parametrize(("method", "path", "who"), JSON_ENDPOINTS)
async def test_an_undecodable_json_body_is_drfs_400_on_every_endpoint(
    client: httpx.AsyncClient,
    seller: UserHandle,
    buyer: UserHandle,
    auction: int,
    method: str,
    path: str,
    who: str | None,
) -> None:
    url = path.format(auction=auction)
    headers = {**_headers(who, seller, buyer), "Content-Type": "application/json"}
    for body in (DEEP, DEEP_OBJECT, NOT_UTF8, NOT_UTF8_KEY):
        response = await client.request(method, url, content=body, headers=headers)
        assert response.status_code == 400, (body[:12], response.text)
        detail = response.json()["detail"]
        assert detail.startswith("JSON parse error - "), detail


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", b"first_name=%ff%fe"),
        ("application/x-www-form-urlencoded", b"first_name=\xff\xfe"),
        ("application/x-www-form-urlencoded", b"%ff=1"),
        (
            "multipart/form-data; boundary=xx",
            b'--xx\r\nContent-Disposition: form-data; name="first_name"\r\n\r\n'
            b"\xff\xfe\r\n--xx--\r\n",
        ),
    ],
)
async def test_a_form_that_is_not_utf8_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, buyer: UserHandle, content_type: str, body: bytes
) -> None:
    before = (await client.get("/api/auth/profile/", headers=buyer.auth)).json()
    response = await client.patch(
        "/api/auth/profile/", content=body, headers={**buyer.auth, "Content-Type": content_type}
    )
    assert response.status_code == 400, response.text
    assert (await client.get("/api/auth/profile/", headers=buyer.auth)).json() == before


@pytest.mark.parametrize(
    "query", ["search=%ff", "search=ab%c3", "%ff=1", "search=%ed%a0%80", "page=1&ordering=%fe"]
)
async def test_a_query_that_is_not_utf8_is_refused(client: httpx.AsyncClient, query: str) -> None:
    response = await client.get(f"/api/products/?{query}")
    assert response.status_code == 400, response.text
    assert response.json() == {"detail": "Query string is not valid UTF-8."}


async def test_text_in_any_script_still_passes(client: httpx.AsyncClient) -> None:
    """The refusal is of bytes that are no UTF-8, not of characters: U+FFFD itself, Urdu and
    a raw (unencoded) UTF-8 query are text like any other."""
    for query in ("search=%EF%BF%BD", "search=%D8%B4%D8%A7%D9%84", "search=caf%C3%A9"):
        assert (await client.get(f"/api/products/?{query}")).status_code == 200, query


@pytest.mark.parametrize(
    "path",
    [
        "/api/products/",
        "/api/auctions/",
        "/api/categories/",
        "/api/notifications/",
        "/api/orders/",
        "/api/feedbacks/",
    ],
)
@pytest.mark.parametrize(
    "page", ["100000000000000000000", "9223372036854775807", "2147483648", "9" * 4400]
)
async def test_a_page_past_any_integer_is_drfs_invalid_page(
    client: httpx.AsyncClient, buyer: UserHandle, path: str, page: str
) -> None:
    response = await client.get(path, params={"page": page}, headers=buyer.auth)
    assert response.status_code == 404, response.text
    assert response.json() == {"detail": "Invalid page."}


@pytest.mark.parametrize(
    "query",
    [
        "page_size=99999999999999999999999",
        f"page_size={'9' * 5000}",
        "category=99999999999999999999",
        f"seller={'9' * 5000}",
        "min_price=1e999",
        f"max_price={'9' * 5000}",
    ],
)
async def test_integers_past_the_databases_range_are_never_a_500(
    client: httpx.AsyncClient, query: str
) -> None:
    for path in ("/api/products/", "/api/auctions/", "/api/feedbacks/"):
        response = await client.get(f"{path}?{query}")
        assert response.status_code < 500, (path, query, response.text)


@pytest.mark.parametrize("province", ["99999999999999999999", "9" * 5000, "%D9%A1", "-1"])
async def test_a_province_filter_no_row_can_have_is_a_field_error(
    client: httpx.AsyncClient, province: str
) -> None:
    response = await client.get(f"/api/cities/?province={province}")
    assert response.status_code == 400, response.text
    assert list(response.json()) == ["province"]


@pytest.mark.parametrize("seller_id", ["99999999999999999999", "9" * 5000, "-" + "9" * 30])
async def test_feedback_seller_filters_past_any_id_are_never_a_500(
    client: httpx.AsyncClient, seller_id: str
) -> None:
    stats = await client.get(f"/api/feedbacks/seller_stats/?seller_id={seller_id}")
    listing = await client.get(f"/api/feedbacks/?seller={seller_id}")
    assert stats.status_code < 500 and listing.status_code < 500, (stats.text, listing.text)


# Other scripts' digits, which Python's int() reads as ASCII ones: (name, zero's code point).
DIGIT_SCRIPTS = [
    ("arabic-indic", 0x660),
    ("urdu", 0x6F0),
    ("fullwidth", 0xFF10),
    ("devanagari", 0x966),
]


def _spellings(row_id: int) -> list[str]:
    """The id as int() would also read it, but as no URL of the API spells it."""
    text = str(row_id)
    other_scripts = [quote("".join(chr(zero + int(d)) for d in text)) for _, zero in DIGIT_SCRIPTS]
    return [*other_scripts, f"{text[0]}_{text[1:]}", f"%20{text}", f"+{text}", f"{text}%20"]


async def test_a_path_id_is_ascii_digits_only(
    client: httpx.AsyncClient, seller: UserHandle, auction: int
) -> None:
    product = (await client.get(f"/api/auctions/{auction}/")).json()["product"]["id"]
    for path, row_id in (("/api/auctions/{}/", auction), ("/api/products/{}/", product)):
        assert (await client.get(path.format(row_id))).status_code == 200
        assert (await client.get(path.format(f"0{row_id}"))).status_code == 200  # as Django
        for spelling in _spellings(row_id):
            response = await client.get(path.format(spelling))
            assert response.status_code == 404, (path, spelling, response.text)
            assert response.json() == {"detail": "Not found."}


@pytest.mark.parametrize(
    "path",
    [
        "/media/%00",
        "/media/products/a%00b.png",
        "/media/" + "a" * 5000,
        "/media/" + "a/" * 3000,
        "/static/%00",
        "/static/" + "a" * 5000,
    ],
)
async def test_a_media_path_no_file_can_have_is_a_404(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404, response.text


@pytest.mark.parametrize(("method", "path", "who"), JSON_ENDPOINTS)
@pytest.mark.parametrize("number", [2**31, 2**63, 10**30, -(2**63) - 1])
async def test_numbers_past_the_databases_integers_in_a_body_are_never_a_500(
    client: httpx.AsyncClient,
    seller: UserHandle,
    buyer: UserHandle,
    auction: int,
    method: str,
    path: str,
    who: str | None,
    number: int,
) -> None:
    """PostgreSQL's driver raises on an integer past its column; every id and count a body
    may carry is checked before it gets there."""
    fields = (
        "amount", "max_amount", "product", "category", "order", "city", "province", "rating",
        "seller_rating", "product_rating", "soft_close_seconds", "duration_hours", "quantity",
    )  # fmt: skip
    body = {name: number for name in fields}
    url = path.format(auction=auction)
    response = await client.request(method, url, json=body, headers=_headers(who, seller, buyer))
    assert response.status_code < 500, (url, number, response.text)


@pytest.mark.parametrize("host", ["x:99999999", "a:b:c", "x:-1", "[::1]:70000"])
async def test_a_host_header_whose_port_is_no_port_is_a_400(
    client: httpx.AsyncClient, host: str
) -> None:
    """Absolute URLs (the metrics' labels, pagination links) are built from ``Host``."""
    for path in ("/api/auctions/?page_size=1", "/api/categories/", "/health/live"):
        response = await client.get(path, headers={"Host": host})
        assert response.status_code == 400, (path, response.text)
        assert response.json() == {"detail": "Invalid host header"}
