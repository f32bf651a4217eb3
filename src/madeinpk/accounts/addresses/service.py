"""Shipping addresses and the places they are in.

Every address query is scoped to its owner, so someone else's address is "Not found.". A user
with addresses has one default: the first address becomes it, choosing another moves it, and
deleting it hands it to the newest remaining address, each in one write transaction that holds
the user's lock (so racing writes cannot leave two).
Checks run in DRF's order: unknown or not yours → 404, then the body's field errors → 400.
"""

from __future__ import annotations

from typing import Any

from msgspec import UNSET
from piccolo.apps.user.tables import BaseUser

from madeinpk.accounts.addresses.schemas import Address as AddressBody
from madeinpk.accounts.addresses.schemas import AddressCreate, AddressUpdate, address_body
from madeinpk.accounts.addresses.schemas import City as CityBody
from madeinpk.accounts.addresses.schemas import Province as ProvinceBody
from madeinpk.accounts.tables import Address, City, Province
from madeinpk.db.database import MAX_ID, write_transaction
from madeinpk.http.errors import FieldErrorCollector, NotFound, field_error
from madeinpk.timestamps import utc_now

# Column limits (``accounts.tables.Address``).
LIMITS = {"street_address": 255, "postal_code": 20}
INVALID_PROVINCE = "Select a valid choice. That choice is not one of the available choices."


# --- provinces and cities ------------------------------------------------------------------


async def provinces() -> list[ProvinceBody]:
    rows = await Province.select(Province.id, Province.name).order_by(Province.name)
    return [ProvinceBody(id=r["id"], name=r["name"]) for r in rows]


async def cities(province: str | None) -> list[CityBody]:
    """All cities, or one province's; a province that is not a known id is a field error."""
    query = City.select(
        City.id, City.name, City.province, City.province.name.as_alias("province_name")
    )
    if province:
        # At most 10 digits: ``int()`` refuses strings past 4300 digits with a ValueError.
        digits = province.isascii() and province.isdigit() and len(province) <= 10
        province_id = int(province) if digits else 0
        if not 0 < province_id <= MAX_ID or not await Province.exists().where(
            Province.id == province_id
        ):
            raise field_error("province", INVALID_PROVINCE)
        query = query.where(City.province == province_id)
    rows = await query.order_by(City.name).order_by(City.id)
    return [
        CityBody(
            id=r["id"], name=r["name"], province=r["province"], province_name=r["province_name"]
        )
        for r in rows
    ]


# --- addresses -----------------------------------------------------------------------------


def _select() -> Any:
    return Address.select(
        *Address.all_columns(),
        Address.city.name.as_alias("city_name"),
        Address.city._.province._.name.as_alias("province_name"),
    )


def _given(value: Any) -> Any:
    return None if value is UNSET else value


def _own(user_id: int, address_id: int) -> Any:
    return (Address.id == address_id) & (Address.user == user_id)


async def _own_row(user_id: int, address_id: int) -> dict[str, Any]:
    row: dict[str, Any] | None = await _select().where(_own(user_id, address_id)).first()
    if row is None:
        raise NotFound()
    return row


async def _check(
    *,
    street_address: str | None = None,
    city: int | None = None,
    postal_code: str | None = None,
) -> None:
    """Field errors for the values given (None: not sent), all at once, in field order."""
    errors = FieldErrorCollector()
    if street_address is not None:
        if not street_address.strip():
            errors.add("street_address", "This field may not be blank.")
        elif len(street_address) > LIMITS["street_address"]:
            errors.add("street_address", "Ensure this field has no more than 255 characters.")
    if city is not None and (
        not 0 < city <= MAX_ID or not await City.exists().where(City.id == city)
    ):
        errors.add("city", f'Invalid pk "{city}" - object does not exist.')
    if postal_code is not None and len(postal_code) > LIMITS["postal_code"]:
        errors.add("postal_code", "Ensure this field has no more than 20 characters.")
    errors.check()


async def _lock_addresses_of(user_id: int) -> None:
    """Call first in every address write transaction. Two of one user's writes committing at
    once would each see the other's default as not yet there (READ COMMITTED) and leave two
    defaults; taking the user's row first makes the second wait and read after the first.
    ``NO KEY UPDATE`` does not hold up rows that merely reference the user. SQLite's IMMEDIATE
    write transaction already runs them one at a time."""
    if Address._meta.db.engine_type == "postgres":
        await BaseUser.select(BaseUser.id).where(BaseUser.id == user_id).lock_rows("NO KEY UPDATE")


async def _unset_default(user_id: int) -> None:
    await Address.update({Address.is_default: False}).where(
        (Address.user == user_id) & (Address.is_default == True)  # noqa: E712
    )


async def address_bodies(address_ids: set[int]) -> dict[int, AddressBody]:
    """The bodies of these addresses, whoever owns them (an order shows its shipping address)."""
    if not address_ids:
        return {}
    rows = await _select().where(Address.id.is_in(list(address_ids)))
    return {row["id"]: address_body(row) for row in rows}


async def list_addresses(user_id: int) -> list[AddressBody]:
    """The default first, then newest first."""
    rows = (
        await _select()
        .where(Address.user == user_id)
        .order_by(Address.is_default, ascending=False)
        .order_by(Address.created_at, ascending=False)
        .order_by(Address.id, ascending=False)
    )
    return [address_body(r) for r in rows]


async def get_address(user_id: int, address_id: int) -> AddressBody:
    return address_body(await _own_row(user_id, address_id))


async def create_address(user_id: int, data: AddressCreate) -> AddressBody:
    await _check(street_address=data.street_address, city=data.city, postal_code=data.postal_code)
    async with write_transaction():
        await _lock_addresses_of(user_id)
        first = not await Address.exists().where(Address.user == user_id)
        is_default = data.is_default or first
        if is_default:
            await _unset_default(user_id)
        rows = await Address.insert(
            Address(
                user=user_id,
                street_address=data.street_address,
                city=data.city,
                postal_code=data.postal_code,
                is_default=is_default,
                created_at=utc_now(),
            )
        ).returning(Address.id)
    return await get_address(user_id, rows[0]["id"])


async def update_address(user_id: int, address_id: int, data: AddressUpdate) -> AddressBody:
    """Only the fields sent change. ``is_default: true`` moves the default here; ``false`` on
    the default leaves the user without one, as asked."""
    await _own_row(user_id, address_id)
    changes = {
        getattr(Address, field): value
        for field in AddressUpdate.__struct_fields__
        if (value := getattr(data, field)) is not UNSET
    }
    await _check(
        street_address=_given(data.street_address),
        city=_given(data.city),
        postal_code=_given(data.postal_code),
    )
    if changes:
        async with write_transaction():
            await _lock_addresses_of(user_id)
            if data.is_default is True:
                await _unset_default(user_id)
            updated = (
                await Address.update(changes).where(_own(user_id, address_id)).returning(Address.id)
            )
            if not updated:  # deleted in the meantime
                raise NotFound()
    return await get_address(user_id, address_id)


async def delete_address(user_id: int, address_id: int) -> None:
    async with write_transaction():
        await _lock_addresses_of(user_id)
        deleted = (
            await Address.delete().where(_own(user_id, address_id)).returning(Address.is_default)
        )
        if not deleted:
            raise NotFound()
        if deleted[0]["is_default"]:
            newest = (
                await Address.select(Address.id)
                .where(Address.user == user_id)
                .order_by(Address.created_at, ascending=False)
                .order_by(Address.id, ascending=False)
                .first()
            )
            if newest is not None:
                await Address.update({Address.is_default: True}).where(Address.id == newest["id"])


async def set_default(user_id: int, address_id: int) -> AddressBody:
    return await update_address(user_id, address_id, AddressUpdate(is_default=True))
