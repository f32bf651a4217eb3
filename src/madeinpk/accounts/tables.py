"""Account tables: credentials stay in Piccolo's ``BaseUser``; everything marketplace-specific
lives in tables keyed to it, so the admin panel and ``piccolo user`` commands keep working."""

from __future__ import annotations

from decimal import Decimal
from enum import Enum

from piccolo.apps.user.tables import BaseUser
from piccolo.columns import (
    JSON,
    Boolean,
    ForeignKey,
    Integer,
    Numeric,
    OnDelete,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from madeinpk.notifications.texts import Language


class Role(str, Enum):
    buyer = "buyer"
    seller = "seller"
    both = "both"
    admin = "admin"


SELLER_ROLES = frozenset({Role.seller.value, Role.both.value, Role.admin.value})


class UserProfile(Table, tablename="user_profile"):
    id: Serial  # the primary key Piccolo adds (every table here), declared for type checkers
    user = ForeignKey(BaseUser, unique=True, null=False, on_delete=OnDelete.cascade)
    role = Varchar(length=10, choices=Role, default=Role.buyer.value)
    phone_number = Varchar(length=20, default="")
    profile_picture = Varchar(length=255, default="")  # path under the media root, "" when unset
    is_blocked = Boolean(default=False)
    failed_payment_count = Integer(default=0)
    created_at = Timestamptz()
    # The words of the notices and emails written to this user (docs/languages.md).
    language = Varchar(length=2, choices=Language, default=Language.en.value)


class AuthToken(Table, tablename="auth_token"):
    """A login key. Only its SHA-256 is stored: a leaked table does not leak sessions."""

    id: Serial
    key_hash = Varchar(length=64, unique=True, index=True)
    user = ForeignKey(BaseUser, null=False, on_delete=OnDelete.cascade, index=True)
    created_at = Timestamptz()
    expires_at = Timestamptz()


class SellerProfile(Table, tablename="seller_profile"):
    id: Serial
    user = ForeignKey(BaseUser, unique=True, null=False, on_delete=OnDelete.cascade)
    brand_name = Varchar(length=200, default="")
    biography = Text(default="")
    business_phone = Varchar(length=20, default="")
    website = Varchar(length=200, default="")
    social_media_links = JSON(default="{}")
    is_verified = Boolean(default=False)
    # Kept in step with the feedback rows, in the same transaction that changes them.
    average_rating = Numeric(digits=(3, 2), default=Decimal("0.00"))
    total_feedbacks = Integer(default=0)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class Province(Table):
    id: Serial
    name = Varchar(length=100, unique=True)


class City(Table):
    id: Serial
    name = Varchar(length=100)
    province = ForeignKey(Province, null=False, on_delete=OnDelete.cascade, index=True)


class Address(Table):
    id: Serial
    user = ForeignKey(BaseUser, null=False, on_delete=OnDelete.cascade, index=True)
    street_address = Varchar(length=255)
    city = ForeignKey(City, null=False, on_delete=OnDelete.restrict)
    postal_code = Varchar(length=20, default="")
    is_default = Boolean(default=False)
    created_at = Timestamptz()
