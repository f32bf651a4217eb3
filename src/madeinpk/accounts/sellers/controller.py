"""``/api/seller-profiles/…`` and the public ``/api/sellers/{user_id}/``."""

from __future__ import annotations

from litestar import Controller, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK

from madeinpk.accounts.schemas import SellerProfile
from madeinpk.accounts.sellers import service as sellers
from madeinpk.accounts.sellers.schemas import PublicSeller, SellerProfileUpdate
from madeinpk.http.auth import Account, requires_account
from madeinpk.http.pagination import Page, PageRequest
from madeinpk.http.requests import AnyRequest
from madeinpk.http.responses import Message


class SellerProfileController(Controller):
    path = "/api/seller-profiles"
    tags = ["sellers"]
    guards = [requires_account]

    @get("/", operation_id="ListSellerProfiles")
    async def list_profiles(
        self,
        request: AnyRequest,
        account: NamedDependency[Account],
        paging: NamedDependency[PageRequest],
    ) -> Page[SellerProfile]:
        count, results = await sellers.list_profiles(account, paging.offset, paging.size)
        return paging.build(request, count, results)

    @get("/{profile_id:int}/", operation_id="GetSellerProfile")
    async def get_profile(
        self, account: NamedDependency[Account], profile_id: FromPath[int]
    ) -> SellerProfile:
        return await sellers.get_profile(account, profile_id)

    @patch("/{profile_id:int}/", operation_id="UpdateSellerProfile")
    async def update_profile(
        self,
        account: NamedDependency[Account],
        profile_id: FromPath[int],
        data: JSONBody[SellerProfileUpdate],
    ) -> SellerProfile:
        return await sellers.update_profile(account, profile_id, data)

    @put("/{profile_id:int}/", operation_id="ReplaceSellerProfile")
    async def replace_profile(
        self,
        account: NamedDependency[Account],
        profile_id: FromPath[int],
        data: JSONBody[SellerProfileUpdate],
    ) -> SellerProfile:
        return await sellers.update_profile(account, profile_id, data)

    @post("/{profile_id:int}/verify/", status_code=HTTP_200_OK, operation_id="VerifySeller")
    async def verify(self, account: NamedDependency[Account], profile_id: FromPath[int]) -> Message:
        await sellers.set_verified(account, profile_id, True)
        return Message(message="Seller verified successfully")

    @post("/{profile_id:int}/unverify/", status_code=HTTP_200_OK, operation_id="UnverifySeller")
    async def unverify(
        self, account: NamedDependency[Account], profile_id: FromPath[int]
    ) -> Message:
        await sellers.set_verified(account, profile_id, False)
        return Message(message="Seller unverified")


class SellerController(Controller):
    path = "/api/sellers"
    tags = ["sellers"]

    @get("/{user_id:int}/", operation_id="GetPublicSeller")
    async def get_seller(self, user_id: FromPath[int]) -> PublicSeller:
        return await sellers.public_seller(user_id)
