"""Accounts over real HTTP: ``rest-api.md`` § Accounts, every documented error string."""

from __future__ import annotations

import hashlib

import httpx
import msgspec
import pytest

from madeinpk.accounts.tables import AuthToken, Role, SellerProfile, UserProfile
from madeinpk.notifications.tables import Notification
from tests.integration.conftest import LiveServer
from tests.integration.factories import PASSWORD, RegisterRequestFactory, make_user

USER_FIELDS = {
    "id": int,
    "username": str,
    "email": str,
    "first_name": str,
    "last_name": str,
    "phone_number": str,
    "profile_picture": type(None),
    "profile_picture_url": type(None),
    "role": str,
    "is_blocked": bool,
    "failed_payment_count": int,
    "created_at": str,
}


def body(**overrides: object) -> dict[str, object]:
    return {**msgspec.to_builtins(RegisterRequestFactory.build()), **overrides}


def assert_user_shape(user: dict[str, object]) -> None:
    assert set(user) == set(USER_FIELDS)
    for field, kind in USER_FIELDS.items():
        assert isinstance(user[field], kind), field
    assert str(user["created_at"]).endswith("Z")


async def test_register_returns_user_and_token(client: httpx.AsyncClient) -> None:
    data = body(role="seller")
    response = await client.post("/api/auth/register/", json=data)
    assert response.status_code == 201, response.text
    payload = response.json()
    assert set(payload) == {"user", "token"}
    assert_user_shape(payload["user"])
    assert payload["user"]["username"] == data["username"]
    assert payload["user"]["role"] == "seller"
    assert payload["user"]["phone_number"] == "+92 300 1234567"
    assert len(payload["token"]) == 40  # 160 bits, hex
    user_id = payload["user"]["id"]
    assert await SellerProfile.exists().where(SellerProfile.user == user_id)
    welcome = await Notification.select().where(Notification.user == user_id)
    assert [(n["notification_type"], n["title"]) for n in welcome] == [
        ("general", "Welcome to MadeInPK!")
    ]
    profile = await client.get(
        "/api/auth/profile/", headers={"Authorization": f"Token {payload['token']}"}
    )
    assert profile.status_code == 200


async def test_register_defaults_to_buyer_without_seller_profile(client: httpx.AsyncClient) -> None:
    data = body()
    del data["role"]
    response = await client.post("/api/auth/register", json=data)  # no trailing slash works too
    assert response.status_code == 201
    assert response.json()["user"]["role"] == "buyer"
    assert not await SellerProfile.exists().where(
        SellerProfile.user == response.json()["user"]["id"]
    )


async def test_token_is_stored_only_as_its_sha256(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/register/", json=body())
    token = response.json()["token"]
    rows = await AuthToken.select(AuthToken.key_hash)
    assert [r["key_hash"] for r in rows] == [hashlib.sha256(token.encode()).hexdigest()]
    assert all(token not in str(r) for r in await AuthToken.select())


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"password_confirm": "something-else-9"},
            {"non_field_errors": ["Passwords do not match"]},
        ),
        ({"role": "admin"}, {"role": ['"admin" is not a valid choice.']}),
        ({"email": "not-an-email"}, {"email": ["Enter a valid email address."]}),
        (
            {"username": "has space"},
            {
                "username": [
                    "Enter a valid username. This value may contain only letters, "
                    "numbers, and @/./+/-/_ characters."
                ]
            },
        ),
        ({"username": ""}, {"username": ["This field may not be blank."]}),
        (
            {"password": "1234", "password_confirm": "1234"},
            {
                "password": [
                    "This password is too short. It must contain at least 8 characters.",
                    "This password is entirely numeric.",
                ]
            },
        ),
        (
            {"password": "password123", "password_confirm": "password123"},
            {"password": ["This password is too common."]},
        ),
        (
            {"password": "98765432101", "password_confirm": "98765432101"},
            {"password": ["This password is entirely numeric."]},
        ),
    ],
)
async def test_register_rejects_bad_input(
    client: httpx.AsyncClient, overrides: dict[str, object], expected: dict[str, list[str]]
) -> None:
    response = await client.post("/api/auth/register/", json=body(**overrides))
    assert response.status_code == 400
    assert response.json() == expected
    assert await UserProfile.count() == 0


@pytest.mark.parametrize("missing", ["username", "email", "password", "password_confirm"])
async def test_register_requires_fields(client: httpx.AsyncClient, missing: str) -> None:
    data = body()
    del data[missing]
    response = await client.post("/api/auth/register/", json=data)
    assert response.status_code == 400
    assert response.json() == {missing: ["This field is required."]}


async def test_register_rejects_wrong_types_and_garbage(client: httpx.AsyncClient) -> None:
    wrong_type = await client.post("/api/auth/register/", json=body(username=42))
    assert wrong_type.status_code == 400
    assert list(wrong_type.json()) == ["username"]
    garbage = await client.post(
        "/api/auth/register/", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert garbage.status_code == 400
    # DRF's words, as every endpoint that reads JSON (docs/rest-api.md)
    assert garbage.json()["detail"].startswith("JSON parse error - JSON is malformed")
    assert await UserProfile.count() == 0


async def test_register_duplicate_username_and_email(client: httpx.AsyncClient) -> None:
    first = body()
    assert (await client.post("/api/auth/register/", json=first)).status_code == 201
    same_name = await client.post("/api/auth/register/", json=body(username=first["username"]))
    assert same_name.status_code == 400
    assert same_name.json() == {"username": ["A user with that username already exists."]}
    shouting = str(first["email"]).upper()
    same_email = await client.post("/api/auth/register/", json=body(email=shouting))
    assert same_email.status_code == 400
    assert same_email.json() == {"email": ["user with this email already exists."]}
    assert await UserProfile.count() == 1


async def test_login_with_case_insensitive_email(
    client: httpx.AsyncClient, live_server: LiveServer
) -> None:
    user = await make_user(live_server.settings)
    response = await client.post(
        "/api/auth/login/", json={"email": user.email.upper(), "password": PASSWORD}
    )
    assert response.status_code == 200
    payload = response.json()
    assert payload["user"]["id"] == user.id
    assert_user_shape(payload["user"])
    assert payload["token"] != user.token
    me = await client.get(
        "/api/auth/profile/", headers={"Authorization": f"Token {payload['token']}"}
    )
    assert me.json()["username"] == user.username


@pytest.mark.parametrize(
    "credentials",
    [{"password": "wrong-password-1"}, {"email": "nobody@example.com"}],
)
async def test_login_invalid_credentials(
    client: httpx.AsyncClient, live_server: LiveServer, credentials: dict[str, str]
) -> None:
    user = await make_user(live_server.settings)
    response = await client.post(
        "/api/auth/login/", json={"email": user.email, "password": PASSWORD, **credentials}
    )
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid credentials"}


async def test_login_blocked_user_gets_exact_403(
    client: httpx.AsyncClient, live_server: LiveServer
) -> None:
    user = await make_user(live_server.settings, is_blocked=True)
    before = await AuthToken.count()
    response = await client.post(
        "/api/auth/login/", json={"email": user.email, "password": PASSWORD}
    )
    assert response.status_code == 403
    assert response.json() == {"error": "Your account is blocked"}
    assert await AuthToken.count() == before


async def test_login_missing_fields(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/login/", json={"email": "a@example.com"})
    assert response.status_code == 400
    assert response.json() == {"password": ["This field is required."]}


async def test_logout_deletes_the_key(client: httpx.AsyncClient, live_server: LiveServer) -> None:
    user = await make_user(live_server.settings)
    response = await client.post("/api/auth/logout/", headers=user.auth)
    assert response.status_code == 200
    assert response.json() == {"message": "Logged out successfully"}
    again = await client.get("/api/auth/profile/", headers=user.auth)
    assert again.status_code == 401
    assert again.json() == {"detail": "Invalid token."}


async def test_auth_errors(client: httpx.AsyncClient) -> None:
    anonymous = await client.get("/api/auth/profile/")
    assert anonymous.status_code == 401
    assert anonymous.json() == {"detail": "Authentication credentials were not provided."}
    assert anonymous.headers["www-authenticate"] == "Token"
    bad = await client.get("/api/auth/profile/", headers={"Authorization": "Token deadbeef"})
    assert bad.status_code == 401
    assert bad.json() == {"detail": "Invalid token."}
    logout = await client.post("/api/auth/logout/")
    assert logout.status_code == 401


async def test_expired_token_is_refused(client: httpx.AsyncClient, live_server: LiveServer) -> None:
    from madeinpk.timestamps import utc_now

    user = await make_user(live_server.settings)
    await AuthToken.update({AuthToken.expires_at: utc_now()}).where(AuthToken.user == user.id)
    response = await client.get("/api/auth/profile/", headers=user.auth)
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}


async def test_profile_has_user_fields_and_totals(
    client: httpx.AsyncClient, live_server: LiveServer
) -> None:
    user = await make_user(live_server.settings, role=Role.seller)
    response = await client.get("/api/auth/profile/", headers=user.auth)
    assert response.status_code == 200
    profile = response.json()
    assert set(profile) == set(USER_FIELDS) | {
        "total_sales",
        "total_purchases",
        "average_seller_rating",
        "seller_profile",
        "language",  # additive (docs/languages.md)
    }
    assert profile["language"] == "en"
    assert profile["total_sales"] == 0 and profile["total_purchases"] == 0
    assert profile["average_seller_rating"] is None
    seller = profile["seller_profile"]
    assert seller["user"] == user.id and seller["user_username"] == user.username
    assert seller["average_rating"] == "0.00"
    assert isinstance(seller["social_media_links"], dict)


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
async def test_profile_update_ignores_role_and_counters(
    client: httpx.AsyncClient, live_server: LiveServer, method: str
) -> None:
    user = await make_user(live_server.settings)
    response = await client.request(
        method,
        "/api/auth/profile/",
        headers=user.auth,
        json={
            "first_name": "Zainab",
            "phone_number": "+92 321 0000000",
            "role": "admin",
            "is_blocked": True,
            "failed_payment_count": 0,
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["first_name"] == "Zainab"
    assert response.json()["phone_number"] == "+92 321 0000000"
    assert response.json()["role"] == "buyer"
    stored = await UserProfile.select().where(UserProfile.user == user.id).first()
    assert stored is not None and stored["role"] == "buyer" and stored["is_blocked"] is False


async def test_profile_update_errors(client: httpx.AsyncClient, live_server: LiveServer) -> None:
    taken = await make_user(live_server.settings)
    user = await make_user(live_server.settings)
    response = await client.patch(
        "/api/auth/profile/", headers=user.auth, json={"username": taken.username, "email": "bad"}
    )
    assert response.status_code == 400
    assert response.json() == {
        "username": ["A user with that username already exists."],
        "email": ["Enter a valid email address."],
    }
    unchanged = await client.get("/api/auth/profile/", headers=user.auth)
    assert unchanged.json()["username"] == user.username


async def test_become_seller(client: httpx.AsyncClient, live_server: LiveServer) -> None:
    user = await make_user(live_server.settings)
    status = await client.get("/api/auth/become-seller/", headers=user.auth)
    assert status.json() == {
        "can_become_seller": True,
        "current_role": "buyer",
        "has_seller_profile": False,
        "message": "You can upgrade your account to sell on MadeInPK",
    }
    response = await client.post(
        "/api/auth/become-seller/",
        headers=user.auth,
        json={
            "brand_name": "Multan Blue Pottery",
            "social_media_links": {"instagram": "@multanblue"},
        },
    )
    assert response.status_code == 201, response.text
    payload = response.json()
    assert payload["message"] == "Successfully upgraded to seller"
    assert payload["user"]["role"] == "both"
    assert payload["seller_profile"]["brand_name"] == "Multan Blue Pottery"
    assert payload["seller_profile"]["social_media_links"] == {"instagram": "@multanblue"}
    titles = await Notification.select(Notification.title).where(Notification.user == user.id)
    assert {"title": "Welcome to Selling on MadeInPK!"} in titles
    again = await client.post("/api/auth/become-seller/", headers=user.auth)
    assert again.status_code == 400
    assert again.json() == {"non_field_errors": ["You already have seller capabilities"]}
    status = await client.get("/api/auth/become-seller/", headers=user.auth)
    assert status.json()["can_become_seller"] is False
    assert status.json()["has_seller_profile"] is True
    assert await SellerProfile.count().where(SellerProfile.user == user.id) == 1


async def test_method_not_allowed_body(client: httpx.AsyncClient) -> None:
    response = await client.delete("/api/auth/login/")
    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "DELETE" not allowed.'}


async def test_profile_picture_upload_over_multipart(
    client: httpx.AsyncClient, live_server: LiveServer
) -> None:
    from tests.integration.auctions.test_auctions_api import jpeg

    user = await make_user(live_server.settings)
    fake = await client.patch(
        "/api/auth/profile/",
        headers=user.auth,
        files={"profile_picture": ("me.jpg", b"not an image", "image/jpeg")},
    )
    assert fake.status_code == 400 and list(fake.json()) == ["profile_picture"]
    response = await client.patch(
        "/api/auth/profile/",
        headers=user.auth,
        data={"first_name": "Sana"},
        files={"profile_picture": ("me.jpg", jpeg(), "image/jpeg")},
    )
    assert response.status_code == 200, response.text
    profile = response.json()
    assert profile["first_name"] == "Sana"
    assert profile["profile_picture"].startswith("/media/profiles/")
    assert profile["profile_picture_url"] == f"{live_server.url}{profile['profile_picture']}"
    served = await client.get(profile["profile_picture_url"])
    assert served.status_code == 200 and served.content[:2] == b"\xff\xd8"
    cleared = await client.patch(
        "/api/auth/profile/", headers=user.auth, json={"profile_picture": None}
    )
    assert cleared.json()["profile_picture"] is None
    assert (await client.get(profile["profile_picture_url"])).status_code == 404  # file removed
    wrong_type = await client.patch("/api/auth/profile/", headers=user.auth, json={"first_name": 5})
    assert wrong_type.status_code == 400 and list(wrong_type.json()) == ["first_name"]
