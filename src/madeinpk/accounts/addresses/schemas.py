"""Province, city and address bodies (``rest-api.md`` § Addresses)."""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, UnsetType


class Province(msgspec.Struct):
    id: int
    name: str


class City(msgspec.Struct):
    id: int
    name: str
    province: int
    province_name: str


# One Address body for the whole API: orders embed the very same shape as
# ``shipping_address_detail``.
class Address(msgspec.Struct):
    id: int
    street_address: str
    city: int
    city_name: str
    province_name: str
    postal_code: str
    is_default: bool


class AddressCreate(msgspec.Struct):
    street_address: str
    city: int
    postal_code: str = ""
    is_default: bool = False


class AddressUpdate(msgspec.Struct):
    """PATCH (and PUT, which the client sends): only the fields given change."""

    street_address: str | UnsetType = UNSET
    city: int | UnsetType = UNSET
    postal_code: str | UnsetType = UNSET
    is_default: bool | UnsetType = UNSET


def address_body(row: dict[str, Any]) -> Address:
    """From an ``Address`` row selected with ``city_name`` and ``province_name``."""
    return Address(
        id=row["id"],
        street_address=row["street_address"],
        city=row["city"],
        city_name=row["city_name"],
        province_name=row["province_name"],
        postal_code=row["postal_code"],
        is_default=bool(row["is_default"]),
    )
