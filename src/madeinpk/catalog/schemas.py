"""Catalogue bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import UNSET, UnsetType

from madeinpk.catalog.tables import Condition
from madeinpk.db.database import MAX_ID
from madeinpk.http.bodies import field_options
from madeinpk.http.errors import NOT_INTEGER


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


# The product's fields as a client sends them: one declaration for creating (JSON, multipart,
# the one-step auction form) and editing, and for the OpenAPI schema.
NAME_LENGTH = 200
DESCRIPTION_LENGTH = 5000
ProductName = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=NAME_LENGTH,
        description="Surrounding whitespace is dropped",
        examples=["Handwoven Pashmina Shawl"],
        extra=field_options(text=True),
    ),
]
ProductDescription = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=DESCRIPTION_LENGTH,
        description="Surrounding whitespace is dropped",
        extra=field_options(text=True),
    ),
]
CategoryId = Annotated[
    int,
    msgspec.Meta(
        ge=0,
        le=MAX_ID,
        description='A category id; null, or "" from a form, for none',
        examples=[1],
        extra=field_options(blank_is_null=True, min_value=NOT_INTEGER, max_value=NOT_INTEGER),
    ),
]


class ProductCreate(msgspec.Struct):
    name: ProductName
    description: ProductDescription
    condition: Condition = Condition.new
    category: CategoryId | None = None


# The multipart form: ProductCreate's fields, then the images. (No docstring: it would become
# the component's description in the OpenAPI document.)
class ProductCreateForm(ProductCreate):
    images: list[bytes] = msgspec.field(default_factory=list)


class ProductUpdate(msgspec.Struct):
    """PUT and PATCH alike change what is sent. A null name, description or condition changes
    nothing; a null category removes it. (Creating reads its fields through this Struct too,
    then asks for the required ones.)"""

    name: ProductName | None | UnsetType = UNSET
    description: ProductDescription | None | UnsetType = UNSET
    condition: Condition | None | UnsetType = UNSET
    category: CategoryId | None | UnsetType = UNSET


class ImageUpload(msgspec.Struct):
    image: bytes
