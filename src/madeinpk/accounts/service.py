"""Account rules: registration, login, profile changes and becoming a seller."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from piccolo.apps.user.tables import BaseUser
from piccolo.columns import Column
from piccolo.columns.combination import WhereRaw

from madeinpk.accounts.auth import load_account
from madeinpk.accounts.passwords import password_problems
from madeinpk.accounts.schemas import (
    BecomeSellerRequest,
    LoginRequest,
    ProfileUpdate,
    RegisterRequest,
)
from madeinpk.accounts.tables import SELLER_ROLES, Role, SellerProfile, UserProfile
from madeinpk.accounts.tokens import issue_token
from madeinpk.db.database import is_unique_violation, write_transaction
from madeinpk.http.auth import Account
from madeinpk.http.errors import BLOCKED, BusinessError, FieldErrorCollector, FieldErrors
from madeinpk.media import InvalidImage, MediaWriter, clean_images, delete_media
from madeinpk.notifications.service import notify
from madeinpk.notifications.tables import NotificationType
from madeinpk.notifications.texts import LANGUAGES, WELCOME, WELCOME_SELLER, Language, as_language
from madeinpk.settings import Settings
from madeinpk.timestamps import utc_now

USERNAME = re.compile(r"^[\w.@+-]+\Z")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+\Z")
SELF_SERVICE_ROLES = (Role.buyer.value, Role.seller.value, Role.both.value)
USERNAME_TAKEN = "A user with that username already exists."
EMAIL_TAKEN = "user with this email already exists."


def _check_username(errors: FieldErrorCollector, username: str) -> None:
    if not username:
        errors.add("username", "This field may not be blank.")
    elif len(username) > 100:
        errors.add("username", "Ensure this field has no more than 100 characters.")
    elif not USERNAME.match(username):
        errors.add(
            "username",
            "Enter a valid username. This value may contain only letters, numbers, "
            "and @/./+/-/_ characters.",
        )


def _check_email(errors: FieldErrorCollector, email: str) -> None:
    if not email:
        errors.add("email", "This field may not be blank.")
    elif len(email) > 254 or not EMAIL.match(email):
        errors.add("email", "Enter a valid email address.")


def _check_language(errors: FieldErrorCollector, language: str) -> None:
    if language not in LANGUAGES:
        errors.add("language", f'"{language}" is not a valid choice.')


def _check_length(errors: FieldErrorCollector, field: str, value: str, limit: int) -> None:
    if len(value) > limit:
        errors.add(field, f"Ensure this field has no more than {limit} characters.")


async def _username_taken(username: str, *, except_id: int | None = None) -> bool:
    query = BaseUser.exists().where(BaseUser.username == username)
    if except_id is not None:
        query = query.where(BaseUser.id != except_id)
    return await query


async def _email_taken(email: str, *, except_id: int | None = None) -> bool:
    query = BaseUser.exists().where(WhereRaw("lower(email) = lower({})", email))
    if except_id is not None:
        query = query.where(BaseUser.id != except_id)
    return await query


def _hash_password(password: str) -> str:
    return BaseUser.hash_password(password)


async def register(
    data: RegisterRequest, settings: Settings, language: Language = Language.en
) -> tuple[Account, str]:
    """``language`` is the browser's (``Accept-Language``): the new user's notices and emails
    are written in it until they choose another (``PATCH /api/auth/profile/``)."""
    username, email = data.username.strip(), data.email.strip()
    errors = FieldErrorCollector()
    _check_username(errors, username)
    _check_email(errors, email)
    if not data.password:
        errors.add("password", "This field may not be blank.")
    else:
        for problem in password_problems(data.password, username=username, email=email):
            errors.add("password", problem)
    if not data.password_confirm:
        errors.add("password_confirm", "This field may not be blank.")
    if data.role not in SELF_SERVICE_ROLES:
        errors.add("role", f'"{data.role}" is not a valid choice.')
    _check_length(errors, "first_name", data.first_name, 150)
    _check_length(errors, "last_name", data.last_name, 150)
    _check_length(errors, "phone_number", data.phone_number, 20)
    errors.check()
    if data.password != data.password_confirm:
        raise FieldErrors({"non_field_errors": ["Passwords do not match"]})
    if await _username_taken(username):
        errors.add("username", USERNAME_TAKEN)
    if await _email_taken(email):
        errors.add("email", EMAIL_TAKEN)
    errors.check()

    # ~0.15 s of CPU: run it off the event loop so no socket in this process stalls.
    password_hash = await asyncio.to_thread(_hash_password, data.password)
    now = utc_now()
    try:
        async with write_transaction():
            user = BaseUser(
                username=username,
                email=email,
                password=password_hash,
                first_name=data.first_name,
                last_name=data.last_name,
                active=True,
            )
            await user.save()
            await UserProfile.insert(
                UserProfile(
                    user=user.id,
                    role=data.role,
                    phone_number=data.phone_number,
                    created_at=now,
                    language=language.value,
                )
            )
            if data.role in SELLER_ROLES:
                await SellerProfile.insert(
                    SellerProfile(user=user.id, created_at=now, updated_at=now)
                )
            await notify(
                user.id, NotificationType.general, *WELCOME.render(language, username=username)
            )
            token = await issue_token(user.id, settings)
    except Exception as exc:
        if not is_unique_violation(exc):
            raise
        # Lost a race with a simultaneous registration of the same name or address.
        if await _username_taken(username):
            raise FieldErrors({"username": [USERNAME_TAKEN]}) from None
        raise FieldErrors({"email": [EMAIL_TAKEN]}) from None
    account = await load_account(user.id)
    assert account is not None
    return account, token


class InvalidCredentials(BusinessError):
    """A wrong email or password: the one outcome the login throttle counts."""

    def __init__(self) -> None:
        super().__init__("Invalid credentials", 401)


def _password_matches(password: str, stored: str) -> bool:
    try:
        _, iterations, salt, _ = BaseUser.split_stored_password(stored)
    except ValueError:
        return False
    return BaseUser.hash_password(password, salt, int(iterations)) == stored


async def login(data: LoginRequest, settings: Settings) -> tuple[Account, str]:
    errors = FieldErrorCollector()
    if not data.email.strip():
        errors.add("email", "This field may not be blank.")
    if not data.password:
        errors.add("password", "This field may not be blank.")
    errors.check()
    row = (
        await BaseUser.select(BaseUser.id, BaseUser.password, BaseUser.active)
        .where(WhereRaw("lower(email) = lower({})", data.email.strip()))
        .first()
    )
    if row is None or len(data.password) > 128:
        # Hash anyway, so response time does not reveal which addresses have accounts.
        await asyncio.to_thread(_hash_password, data.password[:128])
        raise InvalidCredentials()
    if not await asyncio.to_thread(_password_matches, data.password, row["password"]):
        raise InvalidCredentials()
    account = await load_account(row["id"])
    if account is None or not row["active"]:
        raise InvalidCredentials()
    if account.is_blocked:
        raise BusinessError(BLOCKED, 403)
    await BaseUser.update({BaseUser.last_login: utc_now().replace(tzinfo=None)}).where(
        BaseUser.id == account.id
    )
    return account, await issue_token(account.id, settings)


async def update_profile(
    account: Account, data: ProfileUpdate, settings: Settings, picture: bytes | None = None
) -> Account:
    errors = FieldErrorCollector()
    user_changes: dict[Any, Any] = {}
    profile_changes: dict[Any, Any] = {}
    if isinstance(data.username, str):
        username = data.username.strip()
        _check_username(errors, username)
        if not errors.errors and await _username_taken(username, except_id=account.id):
            errors.add("username", USERNAME_TAKEN)
        user_changes[BaseUser.username] = username
    if isinstance(data.email, str):
        email = data.email.strip()
        _check_email(errors, email)
        if "email" not in errors.errors and await _email_taken(email, except_id=account.id):
            errors.add("email", EMAIL_TAKEN)
        user_changes[BaseUser.email] = email
    if isinstance(data.first_name, str):
        _check_length(errors, "first_name", data.first_name, 150)
        user_changes[BaseUser.first_name] = data.first_name
    if isinstance(data.last_name, str):
        _check_length(errors, "last_name", data.last_name, 150)
        user_changes[BaseUser.last_name] = data.last_name
    if isinstance(data.phone_number, str):
        _check_length(errors, "phone_number", data.phone_number, 20)
        profile_changes[UserProfile.phone_number] = data.phone_number
    if isinstance(data.language, str):
        _check_language(errors, data.language)
        profile_changes[UserProfile.language] = data.language
    if data.profile_picture is None:
        profile_changes[UserProfile.profile_picture] = ""
    errors.check()
    media = MediaWriter(settings.media_root)
    if picture is not None:
        try:
            [image] = await clean_images(
                [picture], settings.max_image_pixels, settings.max_image_decodes
            )
        except InvalidImage as exc:
            raise FieldErrors({"profile_picture": [str(exc)]}) from None
        profile_changes[UserProfile.profile_picture] = media.save_image(image, "profiles")
    try:
        async with write_transaction():
            if user_changes:
                await BaseUser.update(user_changes).where(BaseUser.id == account.id)
            if profile_changes:
                await _ensure_profile(account)
                await UserProfile.update(profile_changes).where(UserProfile.user == account.id)
    except Exception as exc:
        media.discard()
        if not is_unique_violation(exc):
            raise
        raise FieldErrors(
            {"non_field_errors": ["That username or email is already taken."]}
        ) from None
    if UserProfile.profile_picture in profile_changes:
        delete_media(settings.media_root, account.profile_picture)  # the one replaced
    updated = await load_account(account.id)
    assert updated is not None
    return updated


async def _ensure_profile(account: Account) -> None:
    """Staff made with ``piccolo user create`` have no profile row until they need one."""
    if not await UserProfile.exists().where(UserProfile.user == account.id):
        await UserProfile.insert(
            UserProfile(user=account.id, role=account.role, created_at=utc_now())
        )


async def seller_profile(user_id: int) -> dict[str, Any] | None:
    return (
        await SellerProfile.select(
            *SellerProfile.all_columns(),
            SellerProfile.user.username.as_alias("user_username"),
            SellerProfile.user.email.as_alias("user_email"),
        )
        .where(SellerProfile.user == user_id)
        .first()
    )


# (completed sales as seller, completed purchases as buyer) of a user. Orders sit above accounts,
# so the orders domain answers it: the app factory provides ``orders.service.sales_summary`` as
# the ``sales_summary`` dependency of the profile endpoints.
SalesSummary = Callable[[int], Awaitable[tuple[int, int]]]


def average_rating(profile: dict[str, Any] | None) -> Decimal | None:
    if not profile or not profile["total_feedbacks"]:
        return None
    return Decimal(str(profile["average_rating"]))


async def become_seller(account: Account, data: BecomeSellerRequest) -> Account:
    if account.is_seller:
        raise FieldErrors({"non_field_errors": ["You already have seller capabilities"]})
    errors = FieldErrorCollector()
    _check_length(errors, "brand_name", data.brand_name, 200)
    _check_length(errors, "business_phone", data.business_phone, 20)
    _check_length(errors, "website", data.website, 200)
    errors.check()
    now = utc_now()
    async with write_transaction():
        await _ensure_profile(account)
        # Conditional: two simultaneous upgrades make one profile, not two.
        upgraded = (
            await UserProfile.update({UserProfile.role: Role.both.value})
            .where((UserProfile.user == account.id) & UserProfile.role.is_in([Role.buyer.value]))
            .returning(UserProfile.id)
        )
        if not upgraded:
            raise FieldErrors({"non_field_errors": ["You already have seller capabilities"]})
        fields: dict[Column | str, Any] = {
            SellerProfile.brand_name: data.brand_name,
            SellerProfile.biography: data.biography,
            SellerProfile.business_phone: data.business_phone,
            SellerProfile.website: data.website,
            SellerProfile.social_media_links: data.social_media_links,
            SellerProfile.updated_at: now,
        }
        if await SellerProfile.exists().where(SellerProfile.user == account.id):
            await SellerProfile.update(fields).where(SellerProfile.user == account.id)
        else:
            await SellerProfile.insert(
                SellerProfile(
                    user=account.id,
                    brand_name=data.brand_name,
                    biography=data.biography,
                    business_phone=data.business_phone,
                    website=data.website,
                    social_media_links=data.social_media_links,
                    created_at=now,
                    updated_at=now,
                )
            )
        await notify(
            account.id,
            NotificationType.general,
            *WELCOME_SELLER.render(as_language(account.language)),
        )
    updated = await load_account(account.id)
    assert updated is not None
    return updated
