"""Account request and response bodies (msgspec Structs, so the OpenAPI schema is exact)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from madeinpk.http.auth import Account
from madeinpk.media import absolute_media_url, media_path_url
from madeinpk.money import format_money


class RegisterRequest(msgspec.Struct):
    username: str
    email: str
    password: str
    password_confirm: str
    first_name: str = ""
    last_name: str = ""
    phone_number: str = ""
    role: str = "buyer"


class LoginRequest(msgspec.Struct):
    email: str
    password: str


class ProfileUpdate(msgspec.Struct):
    """Partial update; ``role``, ``is_blocked`` and the counters are deliberately absent."""

    username: str | UnsetType = UNSET
    email: str | UnsetType = UNSET
    first_name: str | UnsetType = UNSET
    last_name: str | UnsetType = UNSET
    phone_number: str | UnsetType = UNSET
    profile_picture: None | UnsetType = UNSET  # null removes the picture
    language: str | UnsetType = UNSET  # additive: "en" or "ur" (docs/languages.md)


class ProfileUpdateForm(msgspec.Struct):
    """Multipart profile update: the same fields, and a picture file."""

    username: str | UnsetType = UNSET
    email: str | UnsetType = UNSET
    first_name: str | UnsetType = UNSET
    last_name: str | UnsetType = UNSET
    phone_number: str | UnsetType = UNSET
    profile_picture: bytes | UnsetType = UNSET
    language: str | UnsetType = UNSET


class BecomeSellerRequest(msgspec.Struct):
    brand_name: str = ""
    biography: str = ""
    business_phone: str = ""
    website: str = ""
    social_media_links: dict[str, Any] = msgspec.field(default_factory=dict)


class User(msgspec.Struct):
    id: int
    username: str
    email: str
    first_name: str
    last_name: str
    phone_number: str
    profile_picture: str | None
    profile_picture_url: str | None
    role: str
    is_blocked: bool
    failed_payment_count: int
    created_at: datetime


class SellerProfile(msgspec.Struct):
    id: int
    user: int
    user_username: str
    user_email: str
    brand_name: str
    biography: str
    business_phone: str
    website: str
    social_media_links: dict[str, Any]
    is_verified: bool
    average_rating: str
    total_feedbacks: int
    created_at: datetime
    updated_at: datetime


class Profile(User):
    total_sales: int = 0
    total_purchases: int = 0
    average_seller_rating: float | None = None
    seller_profile: SellerProfile | None = None
    language: str = "en"  # additive: the notices' and emails' language, "en" or "ur"


class AuthResponse(msgspec.Struct):
    user: User
    token: str


class BecomeSellerStatus(msgspec.Struct):
    can_become_seller: bool
    current_role: str
    has_seller_profile: bool
    message: str


class BecomeSellerResponse(msgspec.Struct):
    message: str
    user: User
    seller_profile: SellerProfile


def user_body(account: Account, base_url: str) -> User:
    return User(
        id=account.id,
        username=account.username,
        email=account.email,
        first_name=account.first_name,
        last_name=account.last_name,
        phone_number=account.phone_number,
        profile_picture=media_path_url(account.profile_picture),
        profile_picture_url=absolute_media_url(base_url, account.profile_picture),
        role=account.role,
        is_blocked=account.is_blocked,
        failed_payment_count=account.failed_payment_count,
        created_at=account.created_at,
    )


def seller_profile_body(row: dict[str, Any]) -> SellerProfile:
    links = row["social_media_links"]
    if isinstance(links, str):  # Piccolo returns JSON columns as text
        links = msgspec.json.decode(links or "{}")
    return SellerProfile(
        id=row["id"],
        user=row["user"],
        user_username=row["user_username"],
        user_email=row["user_email"],
        brand_name=row["brand_name"],
        biography=row["biography"],
        business_phone=row["business_phone"],
        website=row["website"],
        social_media_links=links if isinstance(links, dict) else {},
        is_verified=bool(row["is_verified"]),
        average_rating=format_money(row["average_rating"]),
        total_feedbacks=row["total_feedbacks"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
