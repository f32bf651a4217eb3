"""Seller-profile request bodies and the public seller page (``SellerProfile`` itself lives in
``accounts.schemas``, shared with ``/api/auth/profile/`` and ``/api/auth/become-seller/``)."""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from madeinpk.money import format_money


class SellerProfileUpdate(msgspec.Struct):
    """PUT and PATCH are both partial. ``is_verified``, ``average_rating`` and ``total_feedbacks``
    are not fields here, so a client that sends them has them silently ignored (msgspec drops
    unknown keys), as DRF's read-only fields are."""

    brand_name: str | UnsetType = UNSET
    biography: str | UnsetType = UNSET
    business_phone: str | UnsetType = UNSET
    website: str | UnsetType = UNSET
    social_media_links: dict[str, Any] | UnsetType = UNSET


class PublicSeller(msgspec.Struct):
    """``GET /api/sellers/{user_id}/``: what anyone may see. No email, no phone."""

    id: int
    username: str
    brand_name: str
    biography: str
    is_verified: bool
    average_rating: str
    total_feedbacks: int


def public_seller_body(row: dict[str, Any]) -> PublicSeller:
    return PublicSeller(
        id=row["user"],
        username=row["user_username"],
        brand_name=row["brand_name"],
        biography=row["biography"],
        is_verified=bool(row["is_verified"]),
        average_rating=format_money(row["average_rating"]),
        total_feedbacks=row["total_feedbacks"],
    )
