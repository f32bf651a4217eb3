"""Catalogue bodies."""

from __future__ import annotations

import msgspec


class Category(msgspec.Struct):
    id: int
    name: str
    description: str
    parent: int | None
    subcategories: list[Category]
