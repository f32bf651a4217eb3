"""Catalogue bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec


class Category(msgspec.Struct):
    id: int
    name: str
    description: str
    parent: int | None
    subcategories: list[Category]


class Image(msgspec.Struct):
    id: int
    image: str
    image_url: str
    is_primary: bool
    order: int


class ProductSellerProfile(msgspec.Struct):
    brand_name: str
    biography: str
    is_verified: bool
    average_rating: str


class Product(msgspec.Struct):
    id: int
    seller: int
    seller_username: str
    category: int | None
    category_name: str | None
    name: str
    description: str
    condition: str
    images: list[Image]
    listing_type: str | None
    seller_profile: ProductSellerProfile | None
    created_at: datetime
    updated_at: datetime


class ProductCreate(msgspec.Struct):
    name: str
    description: str
    condition: str = "new"
    category: int | None = None


class ProductCreateForm(msgspec.Struct):
    name: str
    description: str
    condition: str = "new"
    category: int | None = None
    images: list[bytes] = msgspec.field(default_factory=list)


class ProductUpdate(msgspec.Struct):
    name: Any = msgspec.UNSET
    description: Any = msgspec.UNSET
    condition: Any = msgspec.UNSET
    category: Any = msgspec.UNSET


class ImageUpload(msgspec.Struct):
    image: bytes
