"""Loading the demo data: every row found or created by a natural key, in one transaction."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import timedelta

from piccolo.apps.user.tables import BaseUser

from madeinpk.accounts.tables import City, Province, Role, SellerProfile, UserProfile
from madeinpk.accounts.tokens import issue_token
from madeinpk.auctions.tables import Watch
from madeinpk.catalog.tables import Category, Product
from madeinpk.db.database import write_transaction
from madeinpk.sample_data.data import (
    ACCOUNTS,
    CATEGORIES,
    DEMO_PASSWORD,
    PROVINCES,
    SELLERS,
    SUBCATEGORIES,
    WATCHES,
    DemoAccount,
    DemoSeller,
)
from madeinpk.sample_data.run import Run, sync_sequence
from madeinpk.sample_data.sales import (
    seed_live_auctions,
    seed_past_sales,
    seed_scheduled_auction,
)
from madeinpk.sample_data.second_chances import seed_relisted_auction, seed_second_chance_offer
from madeinpk.settings import Settings
from madeinpk.timestamps import utc_now


@dataclass
class SeedReport:
    created: bool  # False when everything already existed
    accounts: list[tuple[str, str, str]]  # (username, email, password) of demo accounts
    buyer_token: str | None  # a fresh login key for buyer1 (plain key, shown once)


# --- entry points ------------------------------------------------------------------------------


async def database_is_empty() -> bool:
    """No marketplace account (staff aside) and nothing for sale: demo data was never loaded.
    Categories and places say nothing now: migrations bring them to every database."""
    has_accounts = await BaseUser.exists().where(BaseUser.admin.eq(False))
    return not has_accounts and not await Product.exists()


async def seed(settings: Settings) -> SeedReport:
    """Create whatever demo data is missing, in one transaction, and issue buyer1 a login key.

    Image files are written before the transaction commits; if it fails they are removed again.
    """
    run = Run(settings=settings, now=utc_now())
    try:
        async with write_transaction():
            await _seed_categories(run)
            await _seed_places(run)
            await _seed_accounts(run)
            await seed_live_auctions(run)
            await seed_past_sales(run)
            await seed_scheduled_auction(run)
            await _seed_watches(run)
            await seed_second_chance_offer(run)
            await seed_relisted_auction(run)
            # A new key on every call: the plain key exists only in the report.
            token = await issue_token(run.users["buyer1"], settings)
    except BaseException:
        for path in run.written:
            path.unlink(missing_ok=True)
        raise
    accounts = [(a.username, a.email, DEMO_PASSWORD) for a in ACCOUNTS]
    return SeedReport(created=run.created, accounts=accounts, buyer_token=token)


# --- catalogue and places ----------------------------------------------------------------------


async def _seed_categories(run: Run) -> None:
    wanted = [cid for cid, _, _ in CATEGORIES]
    rows = await Category.select(Category.id).where(Category.id.is_in(wanted))
    existing = {row["id"] for row in rows}
    missing = [
        Category(id=cid, name=name, description=description, parent=None)
        for cid, name, description in CATEGORIES
        if cid not in existing
    ]
    if missing:
        await Category.insert(*missing)
        run.mark(True)
    # Before any automatic id is drawn from the sequence, or the next one would be 1.
    await sync_sequence(Category)
    for name, parent_id, description in SUBCATEGORIES:
        sub = await Category.objects().get_or_create(
            Category.name == name,
            defaults={Category.parent: parent_id, Category.description: description},
        )
        run.mark(sub._was_created)


async def _seed_places(run: Run) -> None:
    for province_name, cities in PROVINCES.items():
        province = await Province.objects().get_or_create(Province.name == province_name)
        run.mark(province._was_created)
        for city_name in cities:
            city = await City.objects().get_or_create(
                (City.name == city_name) & (City.province == province.id)
            )
            run.mark(city._was_created)


# --- accounts ----------------------------------------------------------------------------------


async def _seed_accounts(run: Run) -> None:
    for account in ACCOUNTS:
        run.users[account.username] = await _ensure_user(account, run)
        profile = await UserProfile.objects().get_or_create(
            UserProfile.user == run.users[account.username],
            defaults={
                UserProfile.role: account.role.value,
                UserProfile.phone_number: account.phone_number,
                UserProfile.created_at: run.now,
                UserProfile.language: account.language.value,
            },
        )
        run.mark(profile._was_created)
    for seller in SELLERS:
        await _ensure_seller_profile(seller, run)


async def _ensure_user(account: DemoAccount, run: Run) -> int:
    """Find the user by username, or create it with a pre-hashed password.

    Hashing takes ~0.15 s of CPU, so it runs off the event loop, once, and only for new users.
    """
    existing = await BaseUser.select(BaseUser.id).where(BaseUser.username == account.username)
    if existing:
        return int(existing[0]["id"])
    password = await asyncio.to_thread(BaseUser.hash_password, DEMO_PASSWORD)
    is_admin = account.role is Role.admin
    user = BaseUser(
        username=account.username,
        password=password,
        email=account.email,
        first_name=account.first_name,
        last_name=account.last_name,
        active=True,
        admin=is_admin,
        superuser=is_admin,
    )
    rows = await BaseUser.insert(user).returning(BaseUser.id)
    run.mark(True)
    return int(rows[0]["id"])


async def _ensure_seller_profile(seller: DemoSeller, run: Run) -> None:
    profile = await SellerProfile.objects().get_or_create(
        SellerProfile.user == run.users[seller.account.username],
        defaults={
            SellerProfile.brand_name: seller.brand_name,
            SellerProfile.biography: seller.biography,
            SellerProfile.business_phone: seller.business_phone,
            SellerProfile.website: seller.website,
            SellerProfile.social_media_links: json.dumps(seller.social_media_links),
            SellerProfile.is_verified: seller.is_verified,
            SellerProfile.created_at: run.now,
            SellerProfile.updated_at: run.now,
        },
    )
    run.mark(profile._was_created)


async def _seed_watches(run: Run) -> None:
    """Each demo watch once, a minute apart (the watchlist lists the newest first)."""
    for index, (username, auction_id) in enumerate(WATCHES):
        user = run.users[username]
        if await Watch.exists().where((Watch.user == user) & (Watch.auction == auction_id)):
            continue
        when = run.now - timedelta(minutes=len(WATCHES) - index)
        await Watch.insert(Watch(user=user, auction=auction_id, created_at=when))
        run.mark(True)
