"""Test data: rows through Piccolo's ModelBuilder, request bodies through polyfactory."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from piccolo.apps.user.tables import BaseUser
from piccolo.testing.model_builder import ModelBuilder
from polyfactory import Use
from polyfactory.factories.msgspec_factory import MsgspecFactory

from madeinpk.accounts.schemas import RegisterRequest
from madeinpk.accounts.tables import Role, SellerProfile, UserProfile
from madeinpk.accounts.tokens import issue_token
from madeinpk.auctions.tables import Auction, AuctionStatus
from madeinpk.catalog.tables import Product, ProductImage
from madeinpk.notifications.texts import Language
from madeinpk.orders.tables import Order, OrderStatus
from madeinpk.settings import Settings
from madeinpk.timestamps import utc_now

PASSWORD = "chai-and-pakora-7"
HOUR = timedelta(hours=1)


def unique_name(prefix: str = "user") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


class RegisterRequestFactory(MsgspecFactory[RegisterRequest]):
    """Valid registrations: unique names, a password the rules accept, a self-service role."""

    username = Use(unique_name)
    email = Use(lambda: f"{uuid.uuid4().hex[:12]}@example.com")
    password = PASSWORD
    password_confirm = PASSWORD
    first_name = Use(lambda: "Ayesha")
    last_name = Use(lambda: "Khan")
    phone_number = Use(lambda: "+92 300 1234567")
    role = Use(lambda: Role.buyer.value)


@dataclass
class UserHandle:
    id: int
    username: str
    email: str
    password: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.token}"}


async def make_user(
    settings: Settings,
    *,
    role: Role = Role.buyer,
    is_blocked: bool = False,
    staff: bool = False,
    password: str = PASSWORD,
    language: Language = Language.en,
) -> UserHandle:
    username = unique_name(role.value)
    email = f"{username}@example.com"
    user = await ModelBuilder.build(
        BaseUser,
        defaults={
            BaseUser.username: username,
            BaseUser.email: email,
            BaseUser.password: password,
            BaseUser.active: True,
            BaseUser.admin: staff,
            BaseUser.superuser: staff,
        },
    )
    await ModelBuilder.build(
        UserProfile,
        defaults={
            UserProfile.user: user.id,
            UserProfile.role: role.value,
            UserProfile.phone_number: "",
            UserProfile.profile_picture: "",
            UserProfile.is_blocked: is_blocked,
            UserProfile.failed_payment_count: 3 if is_blocked else 0,
            UserProfile.language: language.value,
        },
    )
    if role in (Role.seller, Role.both):
        await ModelBuilder.build(
            SellerProfile,
            defaults={
                SellerProfile.user: user.id,
                SellerProfile.social_media_links: "{}",
                SellerProfile.is_verified: False,
                SellerProfile.average_rating: Decimal("0.00"),
                SellerProfile.total_feedbacks: 0,
            },
        )
    token = await issue_token(user.id, settings)
    return UserHandle(id=user.id, username=username, email=email, password=password, token=token)


async def make_auction(
    seller: UserHandle,
    *,
    starting_price: str = "2500.00",
    starts_in: timedelta = -HOUR,
    ends_in: timedelta = HOUR,
    status: AuctionStatus = AuctionStatus.active,
    name: str = "Handwoven Pashmina Shawl",
    images: int = 0,
    min_increment: str | None = None,
    reserve_price: str | None = None,
    soft_close_seconds: int = 0,
    buy_now_price: str | None = None,
) -> int:
    """An auction of a fresh product of ``seller``; returns the auction id. The options
    default to none (the customer's plain rules)."""
    now = utc_now()
    product = await ModelBuilder.build(
        Product,
        defaults={
            Product.seller: seller.id,
            Product.category: None,
            Product.name: name,
            Product.condition: "new",
        },
    )
    for index in range(images):
        await ModelBuilder.build(
            ProductImage,
            defaults={
                ProductImage.product: product.id,
                ProductImage.image: f"products/test-{product.id}-{index}.jpg",
                ProductImage.is_primary: index == 0,
                ProductImage.display_order: index,
            },
        )
    auction = await ModelBuilder.build(
        Auction,
        defaults={
            Auction.product: product.id,
            Auction.starting_price: Decimal(starting_price),
            Auction.current_price: Decimal(starting_price),
            Auction.bid_count: 0,
            Auction.seq: 0,
            Auction.leader: None,
            Auction.leader_max: None,
            Auction.last_bid_time: None,
            Auction.min_increment: Decimal(min_increment) if min_increment else None,
            Auction.reserve_price: Decimal(reserve_price) if reserve_price else None,
            Auction.soft_close_seconds: soft_close_seconds,
            Auction.buy_now_price: Decimal(buy_now_price) if buy_now_price else None,
            Auction.bought_now: False,
            Auction.start_time: now + starts_in,
            Auction.end_time: now + ends_in,
            Auction.status: status.value,
            Auction.winner: None,
            Auction.auto_relist: 0,
            Auction.relisted_from: None,
        },
    )
    return int(auction.id)


PAID_OR_LATER = (OrderStatus.paid, OrderStatus.shipped, OrderStatus.delivered)
SHIPPED_OR_LATER = (OrderStatus.shipped, OrderStatus.delivered)
DAY = timedelta(hours=24)


async def make_order(
    seller: UserHandle,
    buyer: UserHandle,
    *,
    status: OrderStatus = OrderStatus.pending_payment,
    deadline_in: timedelta = DAY,
) -> int:
    """An auction order of ``buyer`` from ``seller`` in the given state."""
    now = utc_now()
    auction_id = await make_auction(seller, status=AuctionStatus.ended, ends_in=-timedelta(hours=1))
    product = await Auction.select(Auction.product).where(Auction.id == auction_id).first()
    assert product is not None
    order = await ModelBuilder.build(
        Order,
        defaults={
            Order.order_number: f"AUC-{auction_id:012X}"[-16:],
            Order.buyer: buyer.id,
            Order.seller: seller.id,
            Order.product: product["product"],
            Order.auction: auction_id,
            Order.order_type: "auction",
            Order.quantity: 1,
            Order.unit_price: Decimal("3000.00"),
            Order.total_amount: Decimal("3000.00"),
            Order.platform_fee: Decimal("60.00"),
            Order.seller_amount: Decimal("2940.00"),
            Order.shipping_address: None,
            Order.status: status.value,
            Order.payment_deadline: now + deadline_in,
            Order.paid_at: now if status in PAID_OR_LATER else None,
            Order.shipped_at: now if status in SHIPPED_OR_LATER else None,
            Order.delivered_at: None,
        },
    )
    return int(order.id)
