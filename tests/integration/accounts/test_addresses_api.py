"""Provinces, cities and addresses over real HTTP: ``rest-api.md`` § Addresses, exact bodies.

The sample data is not loaded in tests: each test makes the places it needs.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx
import pytest
from piccolo.testing.model_builder import ModelBuilder

from madeinpk.accounts.tables import Address, City, Province
from tests.integration.conftest import LiveServer
from tests.integration.factories import UserHandle, make_user

NOT_FOUND = {"detail": "Not found."}
ADDRESS_FIELDS = {
    "id": int,
    "street_address": str,
    "city": int,
    "city_name": str,
    "province_name": str,
    "postal_code": str,
    "is_default": bool,
}


@dataclass
class Places:
    punjab: int
    sindh: int
    lahore: int
    multan: int
    karachi: int


async def make_province(name: str) -> int:
    province = await ModelBuilder.build(Province, defaults={Province.name: name})
    return int(province.id)


async def make_city(name: str, province_id: int) -> int:
    city = await ModelBuilder.build(City, defaults={City.name: name, City.province: province_id})
    return int(city.id)


@pytest.fixture
async def places(live_server: LiveServer) -> Places:
    # Made out of alphabetical order, so the lists' ordering by name is visible.
    sindh = await make_province("Sindh")
    punjab = await make_province("Punjab")
    multan = await make_city("Multan", punjab)
    karachi = await make_city("Karachi", sindh)
    lahore = await make_city("Lahore", punjab)
    return Places(punjab=punjab, sindh=sindh, lahore=lahore, multan=multan, karachi=karachi)


@pytest.fixture
async def user(live_server: LiveServer) -> UserHandle:
    return await make_user(live_server.settings)


@pytest.fixture
async def other(live_server: LiveServer) -> UserHandle:
    return await make_user(live_server.settings)


async def create(
    client: httpx.AsyncClient, user: UserHandle, city: int, **fields: object
) -> dict[str, object]:
    body = {"street_address": "12 Mall Road", "city": city, **fields}
    response = await client.post("/api/addresses/", json=body, headers=user.auth)
    assert response.status_code == 201, response.text
    created: dict[str, object] = response.json()
    return created


async def defaults_of(user: UserHandle) -> list[int]:
    rows = await Address.select(Address.id).where(
        (Address.user == user.id) & (Address.is_default == True)  # noqa: E712
    )
    return [r["id"] for r in rows]


async def listed(client: httpx.AsyncClient, user: UserHandle) -> list[tuple[object, object]]:
    response = await client.get("/api/addresses/", headers=user.auth)
    assert response.status_code == 200
    return [(a["id"], a["is_default"]) for a in response.json()]


# --- provinces and cities ------------------------------------------------------------------


async def test_provinces_are_a_public_plain_list_by_name(
    client: httpx.AsyncClient, places: Places
) -> None:
    response = await client.get("/api/provinces/")
    assert response.status_code == 200
    assert response.json() == [
        {"id": places.punjab, "name": "Punjab"},
        {"id": places.sindh, "name": "Sindh"},
    ]
    assert (await client.get("/api/provinces")).json() == response.json()


async def test_cities_all_or_one_province(client: httpx.AsyncClient, places: Places) -> None:
    everything = await client.get("/api/cities/")
    assert everything.status_code == 200
    assert everything.json() == [
        {
            "id": places.karachi,
            "name": "Karachi",
            "province": places.sindh,
            "province_name": "Sindh",
        },
        {
            "id": places.lahore,
            "name": "Lahore",
            "province": places.punjab,
            "province_name": "Punjab",
        },
        {
            "id": places.multan,
            "name": "Multan",
            "province": places.punjab,
            "province_name": "Punjab",
        },
    ]
    punjab = await client.get(f"/api/cities/?province={places.punjab}")
    assert [c["name"] for c in punjab.json()] == ["Lahore", "Multan"]
    sindh = await client.get(f"/api/cities?province={places.sindh}")
    assert [c["name"] for c in sindh.json()] == ["Karachi"]
    assert len((await client.get("/api/cities/?province=")).json()) == 3


@pytest.mark.parametrize(
    "province", ["abc", "0", "-1", "999999", "99999999999", "1.5", "²", "9" * 4400]
)
async def test_cities_bad_province_is_a_field_error(
    client: httpx.AsyncClient, places: Places, province: str
) -> None:
    response = await client.get("/api/cities/", params={"province": province})
    assert response.status_code == 400
    assert response.json() == {
        "province": ["Select a valid choice. That choice is not one of the available choices."]
    }


# --- addresses -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/addresses/"),
        ("POST", "/api/addresses/"),
        ("GET", "/api/addresses/1/"),
        ("PATCH", "/api/addresses/1/"),
        ("PUT", "/api/addresses/1/"),
        ("DELETE", "/api/addresses/1/"),
        ("POST", "/api/addresses/1/set_default/"),
    ],
)
async def test_addresses_need_a_token(client: httpx.AsyncClient, method: str, path: str) -> None:
    response = await client.request(method, path, json={} if method != "GET" else None)
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}


async def test_create_returns_every_field_and_first_is_default(
    client: httpx.AsyncClient, places: Places, user: UserHandle
) -> None:
    response = await client.post(
        "/api/addresses/",
        json={
            "street_address": "House 7, Street 3, Gulberg III",
            "city": places.lahore,
            "postal_code": "54660",
            "is_default": False,  # the first address is the default whatever is asked
        },
        headers=user.auth,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == set(ADDRESS_FIELDS)
    for field, kind in ADDRESS_FIELDS.items():
        assert isinstance(body[field], kind), field
    assert body == {
        "id": body["id"],
        "street_address": "House 7, Street 3, Gulberg III",
        "city": places.lahore,
        "city_name": "Lahore",
        "province_name": "Punjab",
        "postal_code": "54660",
        "is_default": True,
    }
    fetched = await client.get(f"/api/addresses/{body['id']}/", headers=user.auth)
    assert fetched.status_code == 200
    assert fetched.json() == body


async def test_create_with_only_the_required_fields(
    client: httpx.AsyncClient, places: Places, user: UserHandle
) -> None:
    body = await create(client, user, places.karachi)
    assert (body["postal_code"], body["is_default"], body["province_name"]) == ("", True, "Sindh")
    # Numeric strings are ids too, as DRF takes them.
    second = await create(client, user, str(places.multan))  # type: ignore[arg-type]
    assert (second["city"], second["is_default"]) == (places.multan, False)


async def test_list_is_own_only_default_first_then_newest(
    client: httpx.AsyncClient, places: Places, user: UserHandle, other: UserHandle
) -> None:
    first = await create(client, user, places.lahore)
    second = await create(client, user, places.multan)
    third = await create(client, user, places.karachi)
    theirs = await create(client, other, places.lahore)

    response = await client.get("/api/addresses/", headers=user.auth)
    assert response.status_code == 200
    addresses = response.json()
    assert isinstance(addresses, list)  # a plain array, not a page
    assert [a["id"] for a in addresses] == [first["id"], third["id"], second["id"]]
    assert [a["is_default"] for a in addresses] == [True, False, False]
    assert addresses[1] == third
    assert await listed(client, other) == [(theirs["id"], True)]


async def test_setting_a_default_unsets_the_others(
    client: httpx.AsyncClient, places: Places, user: UserHandle, other: UserHandle
) -> None:
    first = await create(client, user, places.lahore)
    second = await create(client, user, places.multan)
    theirs = await create(client, other, places.karachi)

    third = await create(client, user, places.karachi, is_default=True)
    assert third["is_default"] is True
    assert await defaults_of(user) == [third["id"]]

    patched = await client.patch(
        f"/api/addresses/{second['id']}/", json={"is_default": True}, headers=user.auth
    )
    assert patched.status_code == 200
    assert patched.json() == {**second, "is_default": True}
    assert await defaults_of(user) == [second["id"]]
    assert await listed(client, user) == [
        (second["id"], True),
        (third["id"], False),
        (first["id"], False),
    ]

    for method in ("POST", "PATCH"):  # the client's "make default" button
        moved = await client.request(
            method, f"/api/addresses/{first['id']}/set_default/", headers=user.auth
        )
        assert moved.status_code == 200
        assert moved.json() == {**first, "is_default": True}
        assert await defaults_of(user) == [first["id"]]

    assert await defaults_of(other) == [theirs["id"]]  # another user's default is untouched


async def test_update_changes_only_what_is_sent(
    client: httpx.AsyncClient, places: Places, user: UserHandle
) -> None:
    address = await create(client, user, places.lahore, postal_code="54000")
    patched = await client.patch(
        f"/api/addresses/{address['id']}/",
        json={"street_address": "1 Clifton Block 5", "city": places.karachi},
        headers=user.auth,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json() == {
        **address,
        "street_address": "1 Clifton Block 5",
        "city": places.karachi,
        "city_name": "Karachi",
        "province_name": "Sindh",
    }
    # PUT (what the React client sends) updates partially too.
    put = await client.put(
        f"/api/addresses/{address['id']}/", json={"postal_code": "75600"}, headers=user.auth
    )
    assert put.status_code == 200
    assert put.json() == {**patched.json(), "postal_code": "75600"}
    unchanged = await client.patch(f"/api/addresses/{address['id']}/", json={}, headers=user.auth)
    assert unchanged.json() == put.json()


async def test_deleting_the_default_promotes_the_newest_remaining(
    client: httpx.AsyncClient, places: Places, user: UserHandle
) -> None:
    first = await create(client, user, places.lahore)
    second = await create(client, user, places.multan)
    third = await create(client, user, places.karachi)

    response = await client.delete(f"/api/addresses/{first['id']}/", headers=user.auth)
    assert response.status_code == 204
    assert response.content == b""
    assert await listed(client, user) == [(third["id"], True), (second["id"], False)]

    # Deleting one that is not the default leaves the default where it is.
    await client.delete(f"/api/addresses/{second['id']}/", headers=user.auth)
    assert await listed(client, user) == [(third["id"], True)]
    await client.delete(f"/api/addresses/{third['id']}/", headers=user.auth)
    assert await listed(client, user) == []
    # The next address is a first address again.
    assert (await create(client, user, places.lahore))["is_default"] is True


async def test_someone_elses_address_is_not_found(
    client: httpx.AsyncClient, places: Places, user: UserHandle, other: UserHandle
) -> None:
    theirs = await create(client, other, places.lahore)
    path = f"/api/addresses/{theirs['id']}/"
    for method, body in (
        ("GET", None),
        ("PATCH", {"street_address": "hijacked"}),
        ("PATCH", {"city": 999_999}),  # 404 before any field error, as DRF does
        ("PUT", {"is_default": True}),
        ("DELETE", None),
        ("POST", None),
    ):
        target = path + "set_default/" if method == "POST" else path
        response = await client.request(method, target, json=body, headers=user.auth)
        assert response.status_code == 404, method
        assert response.json() == NOT_FOUND
    assert (await client.get(path, headers=other.auth)).json() == theirs
    assert isinstance(theirs["id"], int)
    for unknown in (theirs["id"] + 1000, 99_999_999_999):
        response = await client.get(f"/api/addresses/{unknown}/", headers=user.auth)
        assert response.status_code == 404
        assert response.json() == NOT_FOUND


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"city": "CITY"}, {"street_address": ["This field is required."]}),
        ({"street_address": "12 Mall Road"}, {"city": ["This field is required."]}),
        (
            {"street_address": "12 Mall Road", "city": 999_999},
            {"city": ['Invalid pk "999999" - object does not exist.']},
        ),
        (
            {"street_address": "12 Mall Road", "city": 99_999_999_999},
            {"city": ['Invalid pk "99999999999" - object does not exist.']},
        ),
        (
            {"street_address": "  ", "city": "CITY"},
            {"street_address": ["This field may not be blank."]},
        ),
        (
            {"street_address": "x" * 256, "city": "CITY"},
            {"street_address": ["Ensure this field has no more than 255 characters."]},
        ),
        (
            {"street_address": "12 Mall Road", "city": "CITY", "postal_code": "1" * 21},
            {"postal_code": ["Ensure this field has no more than 20 characters."]},
        ),
        (
            {"street_address": "", "city": 999_999, "postal_code": "1" * 21},
            {
                "street_address": ["This field may not be blank."],
                "city": ['Invalid pk "999999" - object does not exist.'],
                "postal_code": ["Ensure this field has no more than 20 characters."],
            },
        ),
    ],
)
async def test_create_field_errors(
    client: httpx.AsyncClient,
    places: Places,
    user: UserHandle,
    body: dict[str, object],
    expected: dict[str, list[str]],
) -> None:
    body = {k: places.lahore if v == "CITY" else v for k, v in body.items()}
    response = await client.post("/api/addresses/", json=body, headers=user.auth)
    assert response.status_code == 400
    assert response.json() == expected
    assert await Address.count() == 0


async def test_create_wrong_types_are_field_errors(
    client: httpx.AsyncClient, places: Places, user: UserHandle
) -> None:
    for body, field in (
        ({"street_address": "12 Mall Road", "city": "Lahore"}, "city"),
        ({"street_address": 12, "city": places.lahore}, "street_address"),
        (
            {"street_address": "12 Mall Road", "city": places.lahore, "is_default": "maybe"},
            "is_default",
        ),
    ):
        response = await client.post("/api/addresses/", json=body, headers=user.auth)
        assert response.status_code == 400, body
        assert list(response.json()) == [field]
    assert await Address.count() == 0


async def test_update_field_errors_change_nothing(
    client: httpx.AsyncClient, places: Places, user: UserHandle
) -> None:
    address = await create(client, user, places.lahore)
    path = f"/api/addresses/{address['id']}/"
    bad_city = await client.patch(path, json={"city": 424242}, headers=user.auth)
    assert bad_city.status_code == 400
    assert bad_city.json() == {"city": ['Invalid pk "424242" - object does not exist.']}
    blank = await client.patch(path, json={"street_address": ""}, headers=user.auth)
    assert blank.json() == {"street_address": ["This field may not be blank."]}
    assert (await client.get(path, headers=user.auth)).json() == address


async def test_concurrent_writes_leave_exactly_one_default(
    client: httpx.AsyncClient, places: Places, user: UserHandle
) -> None:
    """Racing first addresses and racing "make default" clicks still end with one default."""

    async def post(n: int) -> httpx.Response:
        body = {"street_address": f"{n} Mall Road", "city": places.lahore}
        return await client.post("/api/addresses/", json=body, headers=user.auth)

    created = await asyncio.gather(*(post(n) for n in range(8)))
    assert [r.status_code for r in created] == [201] * 8
    assert len(await defaults_of(user)) == 1

    ids = [r.json()["id"] for r in created]
    for _ in range(3):
        moved = await asyncio.gather(
            *(client.post(f"/api/addresses/{i}/set_default/", headers=user.auth) for i in ids)
        )
        assert [r.status_code for r in moved] == [200] * 8
        assert len(await defaults_of(user)) == 1
