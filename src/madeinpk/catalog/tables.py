"""Catalogue tables: what is for sale, independent of how it is sold."""

from __future__ import annotations

from enum import Enum

from piccolo.apps.user.tables import BaseUser
from piccolo.columns import (
    Boolean,
    ForeignKey,
    Integer,
    OnDelete,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table


class Condition(str, Enum):
    new = "new"
    like_new = "like_new"
    good = "good"
    fair = "fair"


class Category(Table):
    id: Serial  # the primary key Piccolo adds (every table here), declared for type checkers
    name = Varchar(length=100, unique=True)
    description = Text(default="")
    parent: ForeignKey[Category] = ForeignKey(
        "self", null=True, on_delete=OnDelete.cascade, index=True
    )


class Product(Table):
    id: Serial
    seller = ForeignKey(BaseUser, null=False, on_delete=OnDelete.cascade, index=True)
    category = ForeignKey(Category, null=True, on_delete=OnDelete.set_null, index=True)
    name = Varchar(length=200)
    description = Text(default="")
    condition = Varchar(length=10, choices=Condition, default=Condition.new.value)
    created_at = Timestamptz(index=True)
    updated_at = Timestamptz()


class ProductImage(Table, tablename="product_image"):
    id: Serial
    product = ForeignKey(Product, null=False, on_delete=OnDelete.cascade, index=True)
    image = Varchar(length=255)  # path under the media root
    is_primary = Boolean(default=False)
    display_order = Integer(default=0)  # "order" on the wire; ORDER is an SQL keyword
