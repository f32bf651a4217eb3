"""Text the database cannot store (NUL, lone surrogates) is a 400 field error on every endpoint,
in the query string, JSON bodies and forms alike, and changes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from piccolo.apps.user.tables import BaseUser
from piccolo.testing.model_builder import ModelBuilder

from madeinpk.accounts.tables import Address, City, Province, SellerProfile
from madeinpk.catalog.tables import Product
from tests.integration.factories import PASSWORD, UserHandle

pytestmark = pytest.mark.usefixtures("task_worker", "task_scheduler")

NUL = "Null characters are not allowed."


@pytest.mark.parametrize("path", ["/api/auctions/", "/api/products/", "/api/categories/"])
@pytest.mark.parametrize("query", ["search=%00", "search=Shawl%00", "ordering=%00name"])
async def test_nul_in_the_query_string(client: httpx.AsyncClient, path: str, query: str) -> None:
    response = await client.get(f"{path}?{query}")
    assert (response.status_code, response.json()) == (400, {query.split("=")[0]: [NUL]})


async def test_nul_in_a_query_parameter_name(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/products/?sea%00rch=x")
    assert (response.status_code, response.json()) == (400, {"non_field_errors": [NUL]})


async def test_nul_in_login(client: httpx.AsyncClient, seller: UserHandle) -> None:
    for body in (
        {"email": f"{seller.email}\x00", "password": PASSWORD},
        {"email": "\x00", "password": "x\x00"},
    ):
        response = await client.post("/api/auth/login/", json=body)
        assert response.status_code == 400
        assert response.json() == {key: [NUL] for key, value in body.items() if "\x00" in value}
    ok = await client.post("/api/auth/login/", json={"email": seller.email, "password": PASSWORD})
    assert ok.status_code == 200


async def test_nul_in_profile_update_json_and_forms(
    client: httpx.AsyncClient, seller: UserHandle
) -> None:
    before = await BaseUser.select(BaseUser.first_name, BaseUser.last_name).where(
        BaseUser.id == seller.id
    )
    attempts: list[dict[str, Any]] = [
        {"json": {"first_name": "Ayesha\x00", "last_name": "Khan"}},
        {"data": {"first_name": "Ayesha\x00", "last_name": "Khan"}},  # url-encoded form
        {"files": {"first_name": (None, "Ayesha\x00"), "last_name": (None, "Khan")}},  # multipart
    ]
    for method in (client.patch, client.put):
        for attempt in attempts:
            response = await method("/api/auth/profile/", headers=seller.auth, **attempt)  # type: ignore[operator]
            assert (response.status_code, response.json()) == (400, {"first_name": [NUL]})
    after = await BaseUser.select(BaseUser.first_name, BaseUser.last_name).where(
        BaseUser.id == seller.id
    )
    assert after == before


async def test_nul_in_address_and_nested_values(
    client: httpx.AsyncClient, seller: UserHandle
) -> None:
    province = await ModelBuilder.build(Province, defaults={Province.name: "Sindh"})
    city = await ModelBuilder.build(
        City, defaults={City.name: "Karachi", City.province: province.id}
    )
    response = await client.post(
        "/api/addresses/",
        headers=seller.auth,
        json={"street_address": "12 Mall Road\x00", "city": city.id, "postal_code": "\x00"},
    )
    assert response.status_code == 400
    assert response.json() == {"street_address": [NUL], "postal_code": [NUL]}
    assert await Address.count() == 0
    profile = await SellerProfile.select(SellerProfile.id).where(SellerProfile.user == seller.id)
    nested = await client.patch(
        f"/api/seller-profiles/{profile[0]['id']}/",
        headers=seller.auth,
        json={"social_media_links": {"instagram": ["ok", "https://x\x00"]}},
    )
    assert (nested.status_code, nested.json()) == (400, {"social_media_links": [NUL]})
    in_a_key = await client.post("/api/addresses/", headers=seller.auth, json={"\x00": "x"})
    assert (in_a_key.status_code, in_a_key.json()) == (400, {"non_field_errors": [NUL]})
    links = await SellerProfile.select(SellerProfile.social_media_links).first()
    assert links is not None and "https://x" not in str(links["social_media_links"])


async def test_nul_in_product_creation_json_and_multipart(
    client: httpx.AsyncClient, seller: UserHandle
) -> None:
    as_json = await client.post(
        "/api/products/",
        headers=seller.auth,
        json={"name": "Multani Vase", "description": "Blue\x00glaze"},
    )
    assert (as_json.status_code, as_json.json()) == (400, {"description": [NUL]})
    as_form = await client.post(
        "/api/products/",
        headers=seller.auth,
        files={"name": (None, "Multani\x00Vase"), "description": (None, "Blue glaze")},
    )
    assert (as_form.status_code, as_form.json()) == (400, {"name": [NUL]})
    assert await Product.count() == 0


async def test_json_sent_as_plain_text_is_screened_too(
    client: httpx.AsyncClient, seller: UserHandle
) -> None:
    """Litestar reads a JSON body whatever its declared type, so the screen does as well."""
    response = await client.post(
        "/api/products/",
        headers={**seller.auth, "Content-Type": "text/plain"},
        content=b'{"name": "Vase\\u0000", "description": "x"}',
    )
    assert (response.status_code, response.json()) == (400, {"name": [NUL]})
    assert await Product.count() == 0


async def test_lone_surrogate_from_a_form_charset(
    client: httpx.AsyncClient, seller: UserHandle
) -> None:
    """A multipart part may name its own charset; UTF-7 can spell a lone surrogate."""
    boundary = "madeinpk-boundary"
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="name"\r\n'
        "Content-Type: text/plain; charset=utf-7\r\n\r\n"
        "Vase +2AA-\r\n"
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="description"\r\n\r\n'
        "Blue glaze\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    response = await client.post(
        "/api/products/",
        headers={**seller.auth, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        content=body,
    )
    assert (response.status_code, response.json()) == (
        400,
        {"name": ["Surrogate characters are not allowed: U+D800."]},
    )
    assert await Product.count() == 0


async def test_undecodable_form_text_is_a_400(
    client: httpx.AsyncClient, seller: UserHandle
) -> None:
    response = await client.patch(
        "/api/auth/profile/", headers=seller.auth, files={"first_name": (None, b"Ay\xffesha")}
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "Multipart form parse error - a field is not valid text."}
