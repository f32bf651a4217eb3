"""Loading the demo data: every row found or created by a natural key, in one transaction."""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from uuid import uuid4

from piccolo.apps.user.tables import BaseUser
from piccolo.table import Table

from madeinpk.accounts.tables import City, Province, Role, SellerProfile, UserProfile
from madeinpk.accounts.tokens import issue_token
from madeinpk.auctions.events import event_payload
from madeinpk.auctions.rules import Accepted, Attempt, AuctionState, Bidder, decide
from madeinpk.auctions.tables import Auction, AuctionEvent, AuctionStatus, Bid
from madeinpk.catalog.tables import Category, Condition, Product, ProductImage
from madeinpk.database import write_transaction
from madeinpk.money import CENT
from madeinpk.orders.feedback import recompute_seller_rating
from madeinpk.orders.tables import Feedback, Order, OrderStatus
from madeinpk.sample_data.data import (
    ACCOUNTS,
    BUYERS,
    CATEGORIES,
    DEMO_PASSWORD,
    FEEDBACK_COMMENTS,
    LIVE_AUCTIONS,
    PROVINCES,
    RGB,
    SELLERS,
    SUBCATEGORIES,
    DemoAccount,
    DemoAuction,
    DemoSeller,
)
from madeinpk.sample_data.images import render_image, sale_palette
from madeinpk.settings import Settings
from madeinpk.sql import dialect, raw
from madeinpk.timestamps import utc_now


class SeedError(RuntimeError):
    """The database holds rows that clash with the demo data's fixed ids."""


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
    run = _Run(settings=settings, now=utc_now())
    try:
        async with write_transaction():
            await _seed_categories(run)
            await _seed_places(run)
            await _seed_accounts(run)
            await _seed_live_auctions(run)
            await _seed_past_sales(run)
            # A new key on every call: the plain key exists only in the report.
            token = await issue_token(run.users["buyer1"], settings)
    except BaseException:
        for path in run.written:
            path.unlink(missing_ok=True)
        raise
    accounts = [(a.username, a.email, DEMO_PASSWORD) for a in ACCOUNTS]
    return SeedReport(created=run.created, accounts=accounts, buyer_token=token)


@dataclass
class _Run:
    """State shared by the steps of one seed call."""

    settings: Settings
    now: datetime
    users: dict[str, int] = field(default_factory=dict)  # username -> user id
    written: list[Path] = field(default_factory=list)  # image files created by this call
    created: bool = False

    def mark(self, created: bool | None) -> None:
        self.created = self.created or bool(created)


# --- catalogue and places ----------------------------------------------------------------------


async def _seed_categories(run: _Run) -> None:
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
    await _sync_sequence(Category)
    for name, parent_id, description in SUBCATEGORIES:
        sub = await Category.objects().get_or_create(
            Category.name == name,
            defaults={Category.parent: parent_id, Category.description: description},
        )
        run.mark(sub._was_created)


async def _seed_places(run: _Run) -> None:
    for province_name, cities in PROVINCES.items():
        province = await Province.objects().get_or_create(Province.name == province_name)
        run.mark(province._was_created)
        for city_name in cities:
            city = await City.objects().get_or_create(
                (City.name == city_name) & (City.province == province.id)
            )
            run.mark(city._was_created)


async def _sync_sequence(table: type[Table]) -> None:
    """PostgreSQL's serial sequence does not see explicit ids; move it past them."""
    if not dialect(table._meta.db).postgres:
        return
    name = table._meta.tablename
    await raw(
        table,
        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT MAX(id) FROM {name}))",
    )


# --- accounts ----------------------------------------------------------------------------------


async def _seed_accounts(run: _Run) -> None:
    for account in ACCOUNTS:
        run.users[account.username] = await _ensure_user(account, run)
        profile = await UserProfile.objects().get_or_create(
            UserProfile.user == run.users[account.username],
            defaults={
                UserProfile.role: account.role.value,
                UserProfile.phone_number: account.phone_number,
                UserProfile.created_at: run.now,
            },
        )
        run.mark(profile._was_created)
    for seller in SELLERS:
        await _ensure_seller_profile(seller, run)


async def _ensure_user(account: DemoAccount, run: _Run) -> int:
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


async def _ensure_seller_profile(seller: DemoSeller, run: _Run) -> None:
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


# --- live auctions -----------------------------------------------------------------------------


async def _seed_live_auctions(run: _Run) -> None:
    for demo in LIVE_AUCTIONS:
        if await Auction.exists().where(Auction.id == demo.id):
            continue
        if await Product.exists().where(Product.id == demo.id):
            raise SeedError(
                f"product {demo.id} exists without demo auction {demo.id}; "
                "seed an empty database instead"
            )
        await _create_live_auction(demo, run)
        run.mark(True)
    await _sync_sequence(Product)
    await _sync_sequence(Auction)


async def _create_live_auction(demo: DemoAuction, run: _Run) -> None:
    """Started a day ago, ending within days, with a few bids from buyers decided one by one by
    the rule core, three hours apart; the leader's latest bid is the winning one."""
    start = run.now - timedelta(days=1)
    await Product.insert(
        Product(
            id=demo.id,
            seller=run.users[demo.seller],
            category=demo.category_id,
            name=demo.name,
            description=demo.description,
            condition=demo.condition.value,
            created_at=start,
            updated_at=start,
        )
    )
    await _create_images(demo.id, demo.name, demo.views, demo.palette, run)
    state = AuctionState(
        auction_id=demo.id,
        product_name=demo.name,
        seller_id=run.users[demo.seller],
        status=AuctionStatus.active.value,
        start_time=start,
        end_time=run.now + demo.ends_in,
        starting_price=demo.starting_price,
        current_price=demo.starting_price,
        bid_count=0,
        seq=0,
        leader=None,
        last_bid_time=None,
        min_increment=demo.min_increment,
        soft_close_seconds=demo.soft_close_seconds,
        reserve_price=demo.reserve_price,
    )
    bids: list[Bid] = []
    events: list[AuctionEvent] = []
    count = len(demo.bids)
    for index, demo_bid in enumerate(demo.bids):
        username = demo_bid.buyer
        bidder = Bidder(run.users[username], username, f"{username}@example.com")
        at = run.now - timedelta(hours=3 * (count - index) + 1)
        decision = decide(state, [Attempt(bidder, demo_bid.amount, demo_bid.max_amount)], at)
        [outcome] = decision.outcomes
        if not isinstance(outcome, Accepted):
            raise SeedError(f"demo bid {demo_bid} on auction {demo.id}: {outcome.message}")
        state = decision.after
        bids += [
            Bid(
                auction=demo.id,
                bidder=b.bidder.id,
                amount=b.amount,
                bid_time=b.time,
                is_auto=b.is_auto,
                seq=b.seq,
            )
            for b in decision.bids
        ]
        events += [
            AuctionEvent(
                auction=demo.id,
                seq=e.seq,
                payload=event_payload(demo.id, e).decode(),
                created_at=at,
            )
            for e in decision.events
        ]
    if bids:
        bids[-1].is_winning = True
    await Auction.insert(
        Auction(
            id=demo.id,
            product=demo.id,
            starting_price=demo.starting_price,
            current_price=state.current_price,
            bid_count=state.bid_count,
            seq=state.seq,
            leader=state.leader.id if state.leader else None,
            leader_max=state.leader_max,
            last_bid_time=state.last_bid_time,
            min_increment=demo.min_increment,
            reserve_price=demo.reserve_price,
            soft_close_seconds=demo.soft_close_seconds,
            start_time=start,
            end_time=state.end_time,
            status=AuctionStatus.active.value,
            winner=None,
            created_at=start,
            updated_at=run.now,
        )
    )
    if bids:
        await Bid.insert(*bids)
        await AuctionEvent.insert(*events)


async def _create_images(
    product_id: int,
    name: str,
    views: tuple[str, ...],
    palette: tuple[RGB, RGB],
    run: _Run,
    pattern: int = 0,
) -> None:
    folder = run.settings.media_root / "products"
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    rows = []
    for index, view in enumerate(views):
        path = folder / f"{uuid4().hex}.jpg"
        run.written.append(path)
        await asyncio.to_thread(render_image, path, name, view, palette, pattern + index)
        rows.append(
            ProductImage(
                product=product_id,
                image=f"products/{path.name}",
                is_primary=index == 0,
                display_order=index,
            )
        )
    await ProductImage.insert(*rows)


# --- past sales and ratings --------------------------------------------------------------------


async def _seed_past_sales(run: _Run) -> None:
    for seller in SELLERS:
        for index, sale in enumerate(seller.sales):
            number = _order_number(seller.account.username, index)
            order = await Order.select(Order.product).where(Order.order_number == number).first()
            if order is None:
                await _create_past_sale(seller, index, number, run)
                run.mark(True)
            elif not await ProductImage.exists().where(ProductImage.product == order["product"]):
                # Seeded before past sales had pictures: add them, or they show as blank cards.
                await _create_images(
                    order["product"], sale.name, SALE_VIEWS, sale_palette(sale), run, index
                )
                run.mark(True)
        # The profile's rating is the mean of every feedback row, as the feedback API keeps it.
        await recompute_seller_rating(run.users[seller.account.username])


SALE_VIEWS = ("As sold",)


def _order_number(seller: str, index: int) -> str:
    """Derived from the sale, not random, so it is the sale's natural key for re-runs."""
    digest = hashlib.sha256(f"madeinpk-demo-sale/{seller}/{index}".encode()).hexdigest()
    return f"AUC-{digest[:12].upper()}"


async def _create_past_sale(seller: DemoSeller, index: int, order_number: str, run: _Run) -> None:
    """A finished auction, its delivered order and the buyer's feedback, as the real flow ends.

    Sales are spaced nine days apart going back from ten days ago; buyers take turns winning.
    """
    sale = seller.sales[index]
    seller_id = run.users[seller.account.username]
    winner_id = run.users[BUYERS[index % len(BUYERS)].username]
    runner_up_id = run.users[BUYERS[(index + 1) % len(BUYERS)].username]
    end = run.now - timedelta(days=10 + 9 * index, hours=3 * index)
    start = end - timedelta(days=5)
    price = sale.price.quantize(CENT)
    product_rows = await Product.insert(
        Product(
            seller=seller_id,
            category=sale.category_id,
            name=sale.name,
            description=sale.description,
            condition=Condition.new.value,
            created_at=start - timedelta(hours=2),
            updated_at=start - timedelta(hours=2),
        )
    ).returning(Product.id)
    product_id = product_rows[0]["id"]
    await _create_images(product_id, sale.name, SALE_VIEWS, sale_palette(sale), run, index)
    auction_rows = await Auction.insert(
        Auction(
            product=product_id,
            starting_price=(price * Decimal("0.8")).quantize(CENT),
            current_price=price,
            bid_count=2,
            start_time=start,
            end_time=end,
            status=AuctionStatus.completed.value,
            winner=winner_id,
            created_at=start,
            updated_at=end + timedelta(hours=6),
        )
    ).returning(Auction.id)
    auction_id = auction_rows[0]["id"]
    await Bid.insert(
        Bid(
            auction=auction_id,
            bidder=runner_up_id,
            amount=(price * Decimal("0.9")).quantize(CENT),
            bid_time=end - timedelta(days=2),
            is_winning=False,
        ),
        Bid(
            auction=auction_id,
            bidder=winner_id,
            amount=price,
            bid_time=end - timedelta(hours=5),
            is_winning=True,
        ),
    )
    fee = (price * run.settings.platform_fee).quantize(CENT, rounding=ROUND_HALF_UP)
    delivered_at = end + timedelta(days=4)
    order_rows = await Order.insert(
        Order(
            order_number=order_number,
            buyer=winner_id,
            seller=seller_id,
            product=product_id,
            auction=auction_id,
            order_type="auction",
            quantity=1,
            unit_price=price,
            total_amount=price,
            platform_fee=fee,
            seller_amount=price - fee,
            shipping_address=None,
            status=OrderStatus.delivered.value,
            payment_deadline=end + timedelta(hours=run.settings.payment_deadline_hours),
            created_at=end,
            paid_at=end + timedelta(hours=6),
            shipped_at=end + timedelta(days=1),
            delivered_at=delivered_at,
        )
    ).returning(Order.id)
    rating = sale.seller_rating
    await Feedback.insert(
        Feedback(
            order=order_rows[0]["id"],
            buyer=winner_id,
            seller=seller_id,
            seller_rating=rating,
            platform_rating=5 if index % 3 else 4,
            communication_rating=rating,
            shipping_speed_rating=max(3, rating - index % 2),
            seller_comment=FEEDBACK_COMMENTS[rating],
            platform_comment="Smooth bidding and checkout." if index % 2 else "",
            product_as_described=rating >= 4,
            created_at=delivered_at + timedelta(days=1),
            updated_at=delivered_at + timedelta(days=1),
        )
    )
