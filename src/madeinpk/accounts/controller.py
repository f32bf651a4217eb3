"""``/api/auth/…``: translation between HTTP and the accounts service, nothing more."""

from __future__ import annotations

from litestar import Controller, get, patch, post, put
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from madeinpk.accounts import service
from madeinpk.accounts.auth import load_account
from madeinpk.accounts.login_throttle import LoginThrottle
from madeinpk.accounts.schemas import (
    AuthResponse,
    BecomeSellerRequest,
    BecomeSellerResponse,
    BecomeSellerStatus,
    LoginRequest,
    Profile,
    ProfileUpdate,
    RegisterRequest,
    seller_profile_body,
    user_body,
)
from madeinpk.accounts.token_cache import TokenCache
from madeinpk.accounts.tokens import revoke_token
from madeinpk.http.auth import Account, current_account, requires_account
from madeinpk.http.bodies import UPLOAD_LIMIT, json_or_form, read_body, to_struct
from madeinpk.http.requests import AnyRequest, base_url, client_address
from madeinpk.http.responses import Message
from madeinpk.notifications.texts import from_accept_language
from madeinpk.settings import Settings


class AccountController(Controller):
    path = "/api/auth"
    tags = ["accounts"]

    @post("/register/", status_code=HTTP_201_CREATED, operation_id="Register")
    async def register(
        self,
        request: AnyRequest,
        data: JSONBody[RegisterRequest],
        settings: NamedDependency[Settings],
    ) -> AuthResponse:
        language = from_accept_language(request.headers.get("accept-language"))
        account, token = await service.register(data, settings, language)
        return AuthResponse(user=user_body(account, base_url(request)), token=token)

    @post(
        "/login/",
        status_code=HTTP_200_OK,
        operation_id="Login",
        responses={429: ResponseSpec(None, description="Too many failed logins; see Retry-After")},
    )
    async def login(
        self,
        request: AnyRequest,
        data: JSONBody[LoginRequest],
        settings: NamedDependency[Settings],
        login_throttle: NamedDependency[LoginThrottle],
    ) -> AuthResponse:
        attempt = await login_throttle.attempt(data.email, client_address(request))
        try:
            account, token = await service.login(data, settings)
        except service.InvalidCredentials:
            raise  # counted
        except Exception:
            await login_throttle.not_a_failure(attempt)
            raise
        await login_throttle.succeeded(attempt)
        return AuthResponse(user=user_body(account, base_url(request)), token=token)

    @post("/logout/", status_code=HTTP_200_OK, guards=[requires_account], operation_id="Logout")
    async def logout(
        self, request: AnyRequest, token_cache: NamedDependency[TokenCache]
    ) -> Message:
        await revoke_token(str(request.auth))
        token_cache.forget(str(request.auth))  # this process's sockets see it at once
        return Message(message="Logged out successfully")

    @get("/profile/", guards=[requires_account], operation_id="GetProfile")
    async def profile(
        self, request: AnyRequest, sales_summary: NamedDependency[service.SalesSummary]
    ) -> Profile:
        return await _profile(request, sales_summary)

    @put(
        "/profile/",
        guards=[requires_account],
        operation_id="ReplaceProfile",
        operation_class=json_or_form("ProfileUpdate", "ProfileUpdateForm"),
        request_max_body_size=UPLOAD_LIMIT,
    )
    async def replace_profile(
        self,
        request: AnyRequest,
        settings: NamedDependency[Settings],
        sales_summary: NamedDependency[service.SalesSummary],
    ) -> Profile:
        return await _update_profile(request, settings, sales_summary)

    @patch(
        "/profile/",
        guards=[requires_account],
        operation_id="UpdateProfile",
        operation_class=json_or_form("ProfileUpdate", "ProfileUpdateForm"),
        request_max_body_size=UPLOAD_LIMIT,
    )
    async def update_profile(
        self,
        request: AnyRequest,
        settings: NamedDependency[Settings],
        sales_summary: NamedDependency[service.SalesSummary],
    ) -> Profile:
        return await _update_profile(request, settings, sales_summary)

    @get("/become-seller/", guards=[requires_account], operation_id="BecomeSellerStatus")
    async def become_seller_status(self, account: NamedDependency[Account]) -> BecomeSellerStatus:
        has_profile = await service.seller_profile(account.id) is not None
        return BecomeSellerStatus(
            can_become_seller=not account.is_seller,
            current_role=account.role,
            has_seller_profile=has_profile,
            message=(
                "You already have seller capabilities"
                if account.is_seller
                else "You can upgrade your account to sell on MadeInPK"
            ),
        )

    @post(
        "/become-seller/",
        status_code=HTTP_201_CREATED,
        guards=[requires_account],
        operation_id="BecomeSeller",
    )
    async def become_seller(
        self,
        request: AnyRequest,
        account: NamedDependency[Account],
        data: JSONBody[BecomeSellerRequest | None] = None,
    ) -> BecomeSellerResponse:
        upgraded = await service.become_seller(account, data or BecomeSellerRequest())
        profile = await service.seller_profile(upgraded.id)
        assert profile is not None
        return BecomeSellerResponse(
            message="Successfully upgraded to seller",
            user=user_body(upgraded, base_url(request)),
            seller_profile=seller_profile_body(profile),
        )


async def _update_profile(
    request: AnyRequest, settings: Settings, sales_summary: service.SalesSummary
) -> Profile:
    """PUT and PATCH both update what is sent (JSON, or multipart with a picture file)."""
    body = await read_body(request)
    pictures = body.files.get("profile_picture", [])
    data = to_struct(body.fields, ProfileUpdate)
    account = current_account(request)
    await service.update_profile(account, data, settings, pictures[0] if pictures else None)
    return await _profile(request, sales_summary)


async def _profile(request: AnyRequest, sales_summary: service.SalesSummary) -> Profile:
    """Re-read after writes: the response shows what is stored, not what was sent."""
    account = await load_account(current_account(request).id)
    assert account is not None
    seller = await service.seller_profile(account.id)
    sales, purchases = await sales_summary(account.id)
    rating = service.average_rating(seller)
    user = user_body(account, base_url(request))
    return Profile(
        **{f: getattr(user, f) for f in user.__struct_fields__},
        total_sales=sales,
        total_purchases=purchases,
        average_seller_rating=float(rating) if rating is not None else None,
        seller_profile=seller_profile_body(seller) if seller else None,
        language=account.language,
    )
