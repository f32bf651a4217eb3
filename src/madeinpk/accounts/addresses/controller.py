"""``/api/provinces/``, ``/api/cities/`` (public) and ``/api/addresses/…`` (own only)."""

from __future__ import annotations

from litestar import Controller, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from madeinpk.accounts.addresses import service as addresses
from madeinpk.accounts.addresses.schemas import (
    Address,
    AddressCreate,
    AddressUpdate,
    City,
    Province,
)
from madeinpk.http.auth import Account, requires_account


class ProvinceController(Controller):
    path = "/api/provinces"
    tags = ["addresses"]

    @get("/", operation_id="ListProvinces")
    async def list_provinces(self) -> list[Province]:
        return await addresses.provinces()


class CityController(Controller):
    path = "/api/cities"
    tags = ["addresses"]

    @get("/", operation_id="ListCities")
    async def list_cities(self, province: FromQuery[str | None] = None) -> list[City]:
        return await addresses.cities(province)


class AddressController(Controller):
    path = "/api/addresses"
    tags = ["addresses"]
    guards = [requires_account]

    @get("/", operation_id="ListAddresses")
    async def list_addresses(self, account: NamedDependency[Account]) -> list[Address]:
        return await addresses.list_addresses(account.id)

    @post("/", status_code=HTTP_201_CREATED, operation_id="CreateAddress")
    async def create_address(
        self, account: NamedDependency[Account], data: JSONBody[AddressCreate]
    ) -> Address:
        return await addresses.create_address(account.id, data)

    @get("/{address_id:int}/", operation_id="GetAddress")
    async def get_address(
        self, account: NamedDependency[Account], address_id: FromPath[int]
    ) -> Address:
        return await addresses.get_address(account.id, address_id)

    @patch("/{address_id:int}/", operation_id="UpdateAddress")
    async def update_address(
        self,
        account: NamedDependency[Account],
        address_id: FromPath[int],
        data: JSONBody[AddressUpdate],
    ) -> Address:
        return await addresses.update_address(account.id, address_id, data)

    # The React client sends its edits with PUT; like the profile, PUT updates partially.
    @put("/{address_id:int}/", operation_id="ReplaceAddress")
    async def replace_address(
        self,
        account: NamedDependency[Account],
        address_id: FromPath[int],
        data: JSONBody[AddressUpdate],
    ) -> Address:
        return await addresses.update_address(account.id, address_id, data)

    @delete("/{address_id:int}/", status_code=HTTP_204_NO_CONTENT, operation_id="DeleteAddress")
    async def delete_address(
        self, account: NamedDependency[Account], address_id: FromPath[int]
    ) -> None:
        await addresses.delete_address(account.id, address_id)

    # The React client's "make default" button sends PATCH; the Django backend took POST.
    @post(
        "/{address_id:int}/set_default/", status_code=HTTP_200_OK, operation_id="SetDefaultAddress"
    )
    async def set_default(
        self, account: NamedDependency[Account], address_id: FromPath[int]
    ) -> Address:
        return await addresses.set_default(account.id, address_id)

    @patch("/{address_id:int}/set_default/", operation_id="PatchDefaultAddress")
    async def patch_default(
        self, account: NamedDependency[Account], address_id: FromPath[int]
    ) -> Address:
        return await addresses.set_default(account.id, address_id)
