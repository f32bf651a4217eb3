"""Seller profiles over real HTTP: ``rest-api.md`` § Seller profiles and feedback (profiles,
verification and the public seller page), with every documented body asserted exactly."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from piccolo.apps.user.tables import BaseUser
from piccolo.table import Table

from madeinpk.accounts.tables import Role, SellerProfile
from madeinpk.timestamps import utc_now
from tests.integration.conftest import LiveServer
from tests.integration.factories import UserHandle, make_user

PROFILE_FIELDS: dict[str, type | tuple[type, ...]] = {
    "id": int,
    "user": int,
    "user_username": str,
    "user_email": str,
    "brand_name": str,
    "biography": str,
    "business_phone": str,
    "website": str,
    "social_media_links": dict,
    "is_verified": bool,
    "average_rating": str,
    "total_feedbacks": int,
    "created_at": str,
    "updated_at": str,
}
FORBIDDEN = {"detail": "You do not have permission to perform this action."}
NOT_FOUND = {"detail": "Not found."}
NO_CREDENTIALS = {"detail": "Authentication credentials were not provided."}
ONLY_ADMINS = {"error": "Only admins can verify sellers"}


@pytest.fixture
async def other_seller(live_server: LiveServer) -> UserHandle:
    return await make_user(live_server.settings, role=Role.both)


@pytest.fixture
async def admin(live_server: LiveServer) -> UserHandle:
    return await make_user(live_server.settings, staff=True)


async def profile_id(user: UserHandle) -> int:
    row = await SellerProfile.select(SellerProfile.id).where(SellerProfile.user == user.id).first()
    assert row is not None
    return int(row["id"])


async def profile_row(user: UserHandle) -> dict[str, Any]:
    row = await SellerProfile.select().where(SellerProfile.user == user.id).first()
    assert row is not None
    return row


def without_times(profile: dict[str, Any]) -> dict[str, Any]:
    """Checks the shape (every field, its type, UTC timestamps), returns the rest for equality."""
    assert set(profile) == set(PROFILE_FIELDS)
    for field, kind in PROFILE_FIELDS.items():
        assert isinstance(profile[field], kind), field
    for field in ("created_at", "updated_at"):
        assert profile[field].endswith("Z"), profile[field]
    return {k: v for k, v in profile.items() if k not in ("created_at", "updated_at")}


async def stored_profile(user: UserHandle) -> dict[str, Any]:
    """What the API must show for ``user``'s profile, built from the row itself (the factory
    fills brand name, biography and the rest with random text)."""
    row = await profile_row(user)
    return {
        "id": row["id"],
        "user": user.id,
        "user_username": user.username,
        "user_email": user.email,
        "brand_name": row["brand_name"],
        "biography": row["biography"],
        "business_phone": row["business_phone"],
        "website": row["website"],
        "social_media_links": {},
        "is_verified": False,
        "average_rating": "0.00",
        "total_feedbacks": 0,
    }


async def unused_id(table: type[Table]) -> int:
    """An id no row has (the factory picks random ids, so ``max + 1`` may not fit in 32 bits)."""
    taken = {r["id"] for r in await table.select(table._meta.primary_key)}
    return next(i for i in range(1, len(taken) + 2) if i not in taken)


# --- listing and reading ---------------------------------------------------------------------


async def test_list_shows_only_the_callers_own_profile(
    client: httpx.AsyncClient, seller: UserHandle, other_seller: UserHandle
) -> None:
    response = await client.get("/api/seller-profiles/", headers=seller.auth)
    assert response.status_code == 200, response.text
    page = response.json()
    assert set(page) == {"count", "next", "previous", "results"}
    assert (page["count"], page["next"], page["previous"]) == (1, None, None)
    [profile] = page["results"]
    assert without_times(profile) == await stored_profile(seller)


async def test_list_is_empty_for_a_user_without_a_profile(
    client: httpx.AsyncClient, seller: UserHandle, buyer: UserHandle
) -> None:
    response = await client.get("/api/seller-profiles", headers=buyer.auth)  # no slash works too
    assert (response.status_code, response.json()) == (
        200,
        {"count": 0, "next": None, "previous": None, "results": []},
    )


async def test_admin_lists_every_profile_with_pagination(
    live_server: LiveServer,
    client: httpx.AsyncClient,
    admin: UserHandle,
    seller: UserHandle,
    other_seller: UserHandle,
) -> None:
    third = await make_user(live_server.settings, role=Role.seller)
    ids = {u.id: await profile_id(u) for u in (seller, other_seller, third)}
    first = await client.get("/api/seller-profiles/?page_size=2", headers=admin.auth)
    assert first.status_code == 200
    page = first.json()
    assert page["count"] == 3
    assert page["previous"] is None
    # Absolute links (Litestar may drop the trailing slash; both spellings are served).
    assert page["next"] in {
        f"{live_server.url}/api/seller-profiles{slash}?page_size=2&page=2" for slash in ("", "/")
    }
    by_id = sorted([seller, other_seller, third], key=lambda u: ids[u.id])
    assert [p["user"] for p in page["results"]] == [by_id[0].id, by_id[1].id]
    second = (await client.get(page["next"], headers=admin.auth)).json()
    assert second["next"] is None
    assert second["previous"] in {
        f"{live_server.url}/api/seller-profiles{slash}?page_size=2" for slash in ("", "/")
    }
    [last] = second["results"]
    assert without_times(last) == await stored_profile(by_id[2])
    beyond = await client.get("/api/seller-profiles/?page=3&page_size=2", headers=admin.auth)
    assert (beyond.status_code, beyond.json()) == (404, {"detail": "Invalid page."})


async def test_profile_detail_owner_and_admin_only(
    client: httpx.AsyncClient,
    seller: UserHandle,
    other_seller: UserHandle,
    buyer: UserHandle,
    admin: UserHandle,
) -> None:
    pk = await profile_id(seller)
    own = await client.get(f"/api/seller-profiles/{pk}/", headers=seller.auth)
    assert own.status_code == 200
    assert without_times(own.json()) == await stored_profile(seller)
    as_admin = await client.get(f"/api/seller-profiles/{pk}", headers=admin.auth)
    assert (as_admin.status_code, as_admin.json()) == (200, own.json())
    for stranger in (other_seller, buyer):
        hidden = await client.get(f"/api/seller-profiles/{pk}/", headers=stranger.auth)
        assert (hidden.status_code, hidden.json()) == (404, NOT_FOUND)
    unknown = await client.get(
        f"/api/seller-profiles/{await unused_id(SellerProfile)}/", headers=admin.auth
    )
    assert (unknown.status_code, unknown.json()) == (404, NOT_FOUND)
    for huge in (2**31, 2**40):  # beyond a 32-bit id: still a 404, never a 500
        for method, path in (
            ("GET", ""),
            ("PATCH", ""),
            ("PUT", ""),
            ("POST", "verify/"),
            ("POST", "unverify/"),
        ):
            response = await client.request(
                method, f"/api/seller-profiles/{huge}/{path}", json={}, headers=admin.auth
            )
            assert (response.status_code, response.json()) == (404, NOT_FOUND), (method, path)
    # The same object as the account profile's ``seller_profile``.
    account = (await client.get("/api/auth/profile/", headers=seller.auth)).json()
    assert account["seller_profile"] == own.json()


async def test_every_endpoint_needs_a_token(client: httpx.AsyncClient, seller: UserHandle) -> None:
    pk = await profile_id(seller)
    calls = [
        client.get("/api/seller-profiles/"),
        client.get(f"/api/seller-profiles/{pk}/"),
        client.patch(f"/api/seller-profiles/{pk}/", json={"brand_name": "x"}),
        client.put(f"/api/seller-profiles/{pk}/", json={"brand_name": "x"}),
        client.post(f"/api/seller-profiles/{pk}/verify/"),
        client.post(f"/api/seller-profiles/{pk}/unverify/"),
    ]
    for call in calls:
        response = await call
        assert (response.status_code, response.json()) == (401, NO_CREDENTIALS)
    bad = await client.get("/api/seller-profiles/", headers={"Authorization": "Token nope"})
    assert (bad.status_code, bad.json()) == (401, {"detail": "Invalid token."})


async def test_delete_is_not_allowed(client: httpx.AsyncClient, seller: UserHandle) -> None:
    pk = await profile_id(seller)
    response = await client.delete(f"/api/seller-profiles/{pk}/", headers=seller.auth)
    assert (response.status_code, response.json()) == (
        405,
        {"detail": 'Method "DELETE" not allowed.'},
    )


# --- updating ----------------------------------------------------------------------------------


async def test_owner_updates_and_read_only_fields_are_ignored(
    client: httpx.AsyncClient, seller: UserHandle
) -> None:
    pk = await profile_id(seller)
    before = await profile_row(seller)
    response = await client.patch(
        f"/api/seller-profiles/{pk}/",
        json={
            "brand_name": "Multan Blue Pottery",
            "biography": "Three generations of kashi-kari tiles.",
            "business_phone": "+92 61 4512345",
            "website": "https://multanblue.pk",
            "social_media_links": {"instagram": "@multanblue", "facebook": "multanblue"},
            "is_verified": True,
            "average_rating": "5.00",
            "total_feedbacks": 99,
            "user": 12345,
        },
        headers=seller.auth,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert without_times(body) == {
        **await stored_profile(seller),
        "brand_name": "Multan Blue Pottery",
        "biography": "Three generations of kashi-kari tiles.",
        "business_phone": "+92 61 4512345",
        "website": "https://multanblue.pk",
        "social_media_links": {"instagram": "@multanblue", "facebook": "multanblue"},
    }
    after = await profile_row(seller)
    assert (after["is_verified"], after["total_feedbacks"], after["user"]) == (False, 0, seller.id)
    assert Decimal(str(after["average_rating"])) == Decimal("0.00")
    assert after["brand_name"] == "Multan Blue Pottery"
    assert after["updated_at"] != before["updated_at"]
    assert abs((utc_now() - after["updated_at"]).total_seconds()) < 60
    assert datetime.fromisoformat(body["updated_at"]) == after["updated_at"]

    # PUT is partial too: what is not sent stays as it was.
    put = await client.put(
        f"/api/seller-profiles/{pk}", json={"biography": "Blue pottery."}, headers=seller.auth
    )
    assert put.status_code == 200
    assert put.json()["biography"] == "Blue pottery."
    assert put.json()["brand_name"] == "Multan Blue Pottery"
    # Only read-only fields: nothing changes, still 200.
    ignored = await client.patch(
        f"/api/seller-profiles/{pk}/", json={"is_verified": True}, headers=seller.auth
    )
    assert (ignored.status_code, ignored.json()["is_verified"]) == (200, False)


async def test_only_the_owner_may_update(
    client: httpx.AsyncClient,
    seller: UserHandle,
    other_seller: UserHandle,
    buyer: UserHandle,
    admin: UserHandle,
) -> None:
    pk = await profile_id(seller)
    brand = (await profile_row(seller))["brand_name"]
    for intruder in (other_seller, buyer, admin):
        for method in ("PATCH", "PUT"):
            response = await client.request(
                method,
                f"/api/seller-profiles/{pk}/",
                json={"brand_name": "Hijacked"},
                headers=intruder.auth,
            )
            assert (response.status_code, response.json()) == (403, FORBIDDEN)
    assert (await profile_row(seller))["brand_name"] == brand
    unknown = await client.patch(
        f"/api/seller-profiles/{await unused_id(SellerProfile)}/",
        json={"brand_name": "x"},
        headers=seller.auth,
    )
    assert (unknown.status_code, unknown.json()) == (404, NOT_FOUND)


async def test_update_field_errors(client: httpx.AsyncClient, seller: UserHandle) -> None:
    pk = await profile_id(seller)
    phone = (await profile_row(seller))["business_phone"]
    url = f"/api/seller-profiles/{pk}/"
    too_long = await client.patch(
        url,
        json={"brand_name": "b" * 201, "business_phone": "1" * 21, "website": "w" * 201},
        headers=seller.auth,
    )
    assert (too_long.status_code, too_long.json()) == (
        400,
        {
            "brand_name": ["Ensure this field has no more than 200 characters."],
            "business_phone": ["Ensure this field has no more than 20 characters."],
            "website": ["Ensure this field has no more than 200 characters."],
        },
    )
    at_limit = await client.patch(url, json={"brand_name": "b" * 200}, headers=seller.auth)
    assert at_limit.status_code == 200
    not_an_object = await client.patch(
        url, json={"social_media_links": ["@multanblue"]}, headers=seller.auth
    )
    assert not_an_object.status_code == 400
    assert set(not_an_object.json()) == {"social_media_links"}
    wrong_type = await client.patch(url, json={"brand_name": 7}, headers=seller.auth)
    assert wrong_type.status_code == 400 and set(wrong_type.json()) == {"brand_name"}
    garbage = await client.patch(url, content=b"{not json", headers=seller.auth)
    assert garbage.status_code == 400
    row = await profile_row(seller)
    assert row["brand_name"] == "b" * 200 and row["business_phone"] == phone


# --- verification ----------------------------------------------------------------------------


async def test_admin_verifies_and_unverifies(
    client: httpx.AsyncClient, seller: UserHandle, admin: UserHandle
) -> None:
    pk = await profile_id(seller)
    verified = await client.post(f"/api/seller-profiles/{pk}/verify/", headers=admin.auth)
    assert (verified.status_code, verified.json()) == (
        200,
        {"message": "Seller verified successfully"},
    )
    assert (await profile_row(seller))["is_verified"] is True
    shown = await client.get(f"/api/seller-profiles/{pk}/", headers=seller.auth)
    assert shown.json()["is_verified"] is True
    again = await client.post(f"/api/seller-profiles/{pk}/verify", headers=admin.auth)
    assert again.status_code == 200  # idempotent

    unverified = await client.post(f"/api/seller-profiles/{pk}/unverify/", headers=admin.auth)
    assert (unverified.status_code, unverified.json()) == (200, {"message": "Seller unverified"})
    assert (await profile_row(seller))["is_verified"] is False
    unknown = await client.post(
        f"/api/seller-profiles/{await unused_id(SellerProfile)}/verify/", headers=admin.auth
    )
    assert (unknown.status_code, unknown.json()) == (404, NOT_FOUND)


async def test_admin_role_without_staff_flag_may_verify(
    live_server: LiveServer, client: httpx.AsyncClient, seller: UserHandle
) -> None:
    role_admin = await make_user(live_server.settings, role=Role.admin)
    pk = await profile_id(seller)
    response = await client.post(f"/api/seller-profiles/{pk}/verify/", headers=role_admin.auth)
    assert response.status_code == 200


async def test_non_admins_cannot_verify_even_themselves(
    client: httpx.AsyncClient, seller: UserHandle, other_seller: UserHandle, buyer: UserHandle
) -> None:
    pk = await profile_id(seller)
    for user in (seller, other_seller, buyer):
        for action in ("verify", "unverify"):
            response = await client.post(f"/api/seller-profiles/{pk}/{action}/", headers=user.auth)
            assert (response.status_code, response.json()) == (403, ONLY_ADMINS)
    assert (await profile_row(seller))["is_verified"] is False


# --- the public seller page ------------------------------------------------------------------


async def test_public_seller_page(
    client: httpx.AsyncClient, seller: UserHandle, admin: UserHandle
) -> None:
    pk = await profile_id(seller)
    await client.patch(
        f"/api/seller-profiles/{pk}/",
        json={
            "brand_name": "Hala Ajrak",
            "biography": "Block-printed ajrak from Hala, Sindh.",
            "business_phone": "+92 22 3456789",
        },
        headers=seller.auth,
    )
    await client.post(f"/api/seller-profiles/{pk}/verify/", headers=admin.auth)
    await SellerProfile.update(
        {SellerProfile.average_rating: Decimal("4.50"), SellerProfile.total_feedbacks: 2}
    ).where(SellerProfile.id == pk)

    response = await client.get(f"/api/sellers/{seller.id}/")  # anonymous
    assert response.status_code == 200, response.text
    assert response.json() == {
        "id": seller.id,
        "username": seller.username,
        "brand_name": "Hala Ajrak",
        "biography": "Block-printed ajrak from Hala, Sindh.",
        "is_verified": True,
        "average_rating": "4.50",
        "total_feedbacks": 2,
    }
    text = response.text
    assert seller.email not in text and "+92 22 3456789" not in text
    with_token = await client.get(f"/api/sellers/{seller.id}", headers=seller.auth)
    assert (with_token.status_code, with_token.json()) == (200, response.json())


async def test_public_seller_page_404s(
    client: httpx.AsyncClient, seller: UserHandle, buyer: UserHandle
) -> None:
    for user_id in (buyer.id, await unused_id(BaseUser), 2**31, 2**40):
        response = await client.get(f"/api/sellers/{user_id}/")
        assert (response.status_code, response.json()) == (404, NOT_FOUND), user_id
    not_a_number = await client.get("/api/sellers/abc/")
    assert (not_a_number.status_code, not_a_number.json()) == (404, NOT_FOUND)
