"""Seller profiles: who may see and change them, verification, and the public seller page.

Checks run in DRF's order: unknown or invisible → 404, visible but not allowed → 403, then the
body's field errors → 400.
"""

from __future__ import annotations

from typing import Any

from madeinpk.accounts.schemas import SellerProfile as SellerProfileBody
from madeinpk.accounts.schemas import seller_profile_body
from madeinpk.accounts.sellers.schemas import PublicSeller, SellerProfileUpdate, public_seller_body
from madeinpk.accounts.tables import SellerProfile
from madeinpk.http.auth import Account
from madeinpk.http.errors import BusinessError, FieldErrors, NotFound, PermissionDenied
from madeinpk.http.query import is_valid_id
from madeinpk.timestamps import utc_now

ONLY_ADMINS_VERIFY = "Only admins can verify sellers"
# Column limits (``accounts.tables.SellerProfile``); biography is unbounded text.
LIMITS = {"brand_name": 200, "business_phone": 20, "website": 200}


def _select() -> Any:
    return SellerProfile.select(
        *SellerProfile.all_columns(),
        SellerProfile.user.username.as_alias("user_username"),
        SellerProfile.user.email.as_alias("user_email"),
    )


async def _row(profile_id: int) -> dict[str, Any] | None:
    if not is_valid_id(profile_id):
        return None
    row: dict[str, Any] | None = await _select().where(SellerProfile.id == profile_id).first()
    return row


async def list_profiles(
    account: Account, offset: int, limit: int
) -> tuple[int, list[SellerProfileBody]]:
    """Everyone sees their own profile; admins see every profile."""
    count_query = SellerProfile.count()
    rows_query = _select()
    if not account.is_admin:
        count_query = count_query.where(SellerProfile.user == account.id)
        rows_query = rows_query.where(SellerProfile.user == account.id)
    count = await count_query
    rows = await rows_query.order_by(SellerProfile.id).offset(offset).limit(limit)
    return count, [seller_profile_body(r) for r in rows]


async def get_profile(account: Account, profile_id: int) -> SellerProfileBody:
    row = await _row(profile_id)
    if row is None or (row["user"] != account.id and not account.is_admin):
        raise NotFound()
    return seller_profile_body(row)


def _changes(data: SellerProfileUpdate) -> dict[Any, Any]:
    errors: dict[str, list[str]] = {}
    changes: dict[Any, Any] = {}
    for field in ("brand_name", "biography", "business_phone", "website"):
        value = getattr(data, field)
        if not isinstance(value, str):  # UNSET: not sent
            continue
        limit = LIMITS.get(field)
        if limit is not None and len(value) > limit:
            errors[field] = [f"Ensure this field has no more than {limit} characters."]
        changes[getattr(SellerProfile, field)] = value
    if isinstance(data.social_media_links, dict):
        changes[SellerProfile.social_media_links] = data.social_media_links
    if errors:
        raise FieldErrors(errors)
    return changes


async def update_profile(
    account: Account, profile_id: int, data: SellerProfileUpdate
) -> SellerProfileBody:
    """Owner only (an admin who is not the owner included); read-only fields never reach here."""
    row = await _row(profile_id)
    if row is None:
        raise NotFound()
    if row["user"] != account.id:
        raise PermissionDenied()
    changes = _changes(data)
    if changes:
        changes[SellerProfile.updated_at] = utc_now()
        # Owner in the WHERE too: the check and the write cannot disagree.
        await SellerProfile.update(changes).where(
            (SellerProfile.id == profile_id) & (SellerProfile.user == account.id)
        )
    updated = await _row(profile_id)
    if updated is None:  # deleted with its user in the meantime
        raise NotFound()
    return seller_profile_body(updated)


async def set_verified(account: Account, profile_id: int, verified: bool) -> None:
    if not account.is_admin:
        raise BusinessError(ONLY_ADMINS_VERIFY, 403)
    if not is_valid_id(profile_id):
        raise NotFound()
    changed = (
        await SellerProfile.update(
            {SellerProfile.is_verified: verified, SellerProfile.updated_at: utc_now()}
        )
        .where(SellerProfile.id == profile_id)
        .returning(SellerProfile.id)
    )
    if not changed:
        raise NotFound()


async def public_seller(user_id: int) -> PublicSeller:
    row = (
        await _select().where(SellerProfile.user == user_id).first()
        if is_valid_id(user_id)
        else None
    )
    if row is None:
        raise NotFound()
    return public_seller_body(row)
