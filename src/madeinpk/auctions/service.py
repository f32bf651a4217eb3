"""Auction rules. ``place_bid`` is the one way a bid enters the system, for REST and WebSocket.

A bid is accepted by one conditional ``UPDATE … RETURNING`` that checks every rule in the
database, against the database's clock, while it takes the row: the auction is active and open,
the bidder is not blocked and not the seller, and the amount beats the current price. There is
no read-check-write: two bids racing for the same auction are ordered by the row lock, and the
loser's UPDATE re-evaluates against the winner's price. Only when it matches nothing is the row
read again, once, to say which rule failed.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from piccolo.apps.user.tables import BaseUser
from piccolo.engine.postgres import PostgresEngine

from madeinpk.accounts.auth import Account
from madeinpk.accounts.tables import SellerProfile, UserProfile
from madeinpk.auctions.events import AuctionEvents
from madeinpk.auctions.schemas import (
    AuctionStatusData,
    BidInfo,
    ImageRef,
    ProductInfo,
    SellerInfo,
    WinnerInfo,
)
from madeinpk.auctions.tables import Auction, AuctionStatus, Bid
from madeinpk.catalog.tables import Product, ProductImage
from madeinpk.database import write_transaction
from madeinpk.media import media_path_url
from madeinpk.money import format_money, to_money
from madeinpk.notifications.emails import OUTBID
from madeinpk.notifications.service import notify, queue_email
from madeinpk.notifications.tables import NotificationType
from madeinpk.timestamps import as_utc, utc_now

LATEST_BIDS = 5


class Rejection(Enum):
    not_found = "Auction not found"
    not_active = "Auction is not active"
    blocked = "Your account is blocked"
    own_auction = "You cannot bid on your own auction"
    too_low = "Bid must be higher than current price of {price}"


class BidRejected(Exception):
    def __init__(self, reason: Rejection, current_price: Decimal | None = None) -> None:
        self.reason = reason
        self.message = reason.value.format(
            price=format_money(current_price) if current_price is not None else ""
        )
        super().__init__(self.message)


@dataclass(frozen=True, slots=True)
class PlacedBid:
    id: int
    auction_id: int
    bidder_id: int
    bidder_username: str
    amount: Decimal
    time: datetime
    seq: int  # this bid's number in its auction: the order watchers must see it in
    outbid_email_id: int | None


# Both engines understand this; only "now" differs. On PostgreSQL it is the database clock when
# the statement began (the same value in WHERE and RETURNING, so a bid's time is the instant it
# was judged by); SQLite is embedded, so its clock is this process's.
_ACCEPT_BID = """
    UPDATE auction
    SET current_price = {amount}, bid_count = bid_count + 1, updated_at = {updated_at}
    WHERE id = {auction_id}
      AND status = 'active'
      AND start_time <= {now}
      AND end_time > {now}
      AND current_price < {amount}
      AND NOT EXISTS (
          SELECT 1 FROM user_profile p WHERE p."user" = {bidder} AND p.is_blocked
      )
      AND NOT EXISTS (
          SELECT 1 FROM product WHERE product.id = auction.product AND product.seller = {bidder}
      )
    RETURNING bid_count, product, {now} AS accepted_at
"""


def _now_sql() -> tuple[str, list[Any]]:
    if isinstance(Auction._meta.db, PostgresEngine):
        return "statement_timestamp()", []
    return "{}", [utc_now()]


def _accept_query(auction_id: int, bidder_id: int, amount: Decimal) -> tuple[str, list[Any]]:
    """Piccolo's raw queries take positional ``{}`` placeholders; build them in order."""
    now_sql, now_args = _now_sql()
    values: dict[str, Any] = {
        "amount": amount,
        "updated_at": utc_now(),
        "auction_id": auction_id,
        "bidder": bidder_id,
    }
    args: list[Any] = []
    sql = _ACCEPT_BID

    def place(name: str) -> str:
        if name == "now":
            args.extend(now_args)
            return now_sql
        args.append(values[name])
        return "{}"

    sql = re.sub(r"\{(\w+)\}", lambda m: place(m.group(1)), sql)
    return sql, args


async def place_bid(
    auction_id: int, bidder: Account, amount: Decimal, events: AuctionEvents
) -> PlacedBid:
    """Accept a bid or raise ``BidRejected``. Only after commit: tell every watcher, and hand
    the outbid email (already in the outbox, written with the bid) to a worker."""
    from madeinpk.notifications.tasks import send_email

    placed = await _accept_bid(auction_id, bidder, amount)
    events.new_bid(placed)
    if placed.outbid_email_id is not None:
        await send_email.kiq(placed.outbid_email_id)
    return placed


class _NotAccepted(Exception):
    """Leaves the transaction at once: a refused UPDATE may still hold the auction's row lock
    (PostgreSQL locks a row it waited for before re-checking it), and every other bidder on a
    hot auction queues behind that lock until this transaction ends."""


async def _accept_bid(auction_id: int, bidder: Account, amount: Decimal) -> PlacedBid:
    sql, args = _accept_query(auction_id, bidder.id, amount)
    try:
        return await _accept_in_transaction(sql, args, auction_id, bidder, amount)
    except _NotAccepted:
        raise await _rejection(auction_id, bidder, amount) from None


async def _accept_in_transaction(
    sql: str, args: list[Any], auction_id: int, bidder: Account, amount: Decimal
) -> PlacedBid:
    async with write_transaction():
        accepted = await Auction.raw(sql, *args)
        if not accepted:
            raise _NotAccepted
        seq, product_id = accepted[0]["bid_count"], accepted[0]["product"]
        bid_time = accepted[0]["accepted_at"]
        if isinstance(bid_time, str):  # SQLite hands raw SQL values back as text
            bid_time = as_utc(datetime.fromisoformat(bid_time))
        previous = (
            await Bid.update({Bid.is_winning: False})
            .where(
                (Bid.auction == auction_id) & (Bid.is_winning == True)  # noqa: E712
            )
            .returning(Bid.bidder)
        )
        inserted = await Bid.insert(
            Bid(
                auction=auction_id,
                bidder=bidder.id,
                amount=amount,
                bid_time=bid_time,
                is_winning=True,
            )
        ).returning(Bid.id)
        outbid_email_id = None
        if previous and previous[0]["bidder"] != bidder.id:
            outbid_email_id = await _tell_outbid(
                previous[0]["bidder"], auction_id, product_id, amount, inserted[0]["id"]
            )
    return PlacedBid(
        id=inserted[0]["id"],
        auction_id=auction_id,
        bidder_id=bidder.id,
        bidder_username=bidder.username,
        amount=amount,
        time=bid_time,
        seq=seq,
        outbid_email_id=outbid_email_id,
    )


async def _tell_outbid(
    user_id: int, auction_id: int, product_id: int, amount: Decimal, bid_id: int
) -> int | None:
    product = await Product.select(Product.name).where(Product.id == product_id).first()
    user = (
        await BaseUser.select(BaseUser.username, BaseUser.email)
        .where(BaseUser.id == user_id)
        .first()
    )
    assert product is not None and user is not None
    price = format_money(amount)
    await notify(
        user_id,
        NotificationType.bid_outbid,
        "You have been outbid",
        f"Someone placed a higher bid of Rs. {price} on {product['name']}",
        auction_id=auction_id,
    )
    subject, body = OUTBID.render(username=user["username"], product=product["name"], amount=price)
    return await queue_email(f"outbid:{bid_id}", user["email"], subject, body)


async def _rejection(auction_id: int, bidder: Account, amount: Decimal) -> BidRejected:
    """Which rule failed, in the contract's order. Read once, after the conditional update."""
    row = (
        await Auction.select(
            Auction.status,
            Auction.start_time,
            Auction.end_time,
            Auction.current_price,
            Auction.product.seller.as_alias("seller"),
        )
        .where(Auction.id == auction_id)
        .first()
    )
    if row is None:
        return BidRejected(Rejection.not_found)
    now = utc_now()
    if (
        row["status"] != AuctionStatus.active.value
        or not row["start_time"] <= now < row["end_time"]
    ):
        return BidRejected(Rejection.not_active)
    blocked = await UserProfile.exists().where(
        (UserProfile.user == bidder.id) & (UserProfile.is_blocked == True)  # noqa: E712
    )
    if blocked:
        return BidRejected(Rejection.blocked)
    if row["seller"] == bidder.id:
        return BidRejected(Rejection.own_auction)
    current = to_money(row["current_price"])
    if amount <= current:
        return BidRejected(Rejection.too_low, current)
    # The price moved between the update and this read only by rising, so this is unreachable
    # unless the clock check disagreed by a hair at the end time: the auction just closed.
    return BidRejected(Rejection.not_active)


async def auction_status(auction_id: int) -> AuctionStatusData | None:
    """Everything a watcher sees on connect (``auction_status``), in four indexed reads."""
    row = (
        await Auction.select(
            Auction.id,
            Auction.starting_price,
            Auction.current_price,
            Auction.start_time,
            Auction.end_time,
            Auction.status,
            Auction.bid_count,
            Auction.winner.id.as_alias("winner_id"),
            Auction.winner.username.as_alias("winner_username"),
            Auction.product.id.as_alias("product_id"),
            Auction.product.name.as_alias("product_name"),
            Auction.product.description.as_alias("product_description"),
            Auction.product.condition.as_alias("product_condition"),
            Auction.product.category.name.as_alias("category_name"),
            Auction.product.seller.id.as_alias("seller_id"),
            Auction.product.seller.username.as_alias("seller_username"),
            Auction.product.seller.email.as_alias("seller_email"),
        )
        .where(Auction.id == auction_id)
        .first()
    )
    if row is None:
        return None
    images, profile, bids = await asyncio.gather(
        ProductImage.select(ProductImage.image, ProductImage.is_primary, ProductImage.display_order)
        .where(ProductImage.product == row["product_id"])
        .order_by(ProductImage.display_order),
        SellerProfile.select(
            SellerProfile.brand_name,
            SellerProfile.biography,
            SellerProfile.is_verified,
            SellerProfile.average_rating,
            SellerProfile.total_feedbacks,
        )
        .where(SellerProfile.user == row["seller_id"])
        .first(),
        Bid.select(Bid.bidder.username.as_alias("bidder"), Bid.amount, Bid.bid_time)
        .where(Bid.auction == auction_id)
        .order_by(Bid.bid_time, ascending=False)
        .order_by(Bid.id, ascending=False)
        .limit(LATEST_BIDS),
    )
    now = utc_now()
    status = row["status"]
    return AuctionStatusData(
        auction_id=row["id"],
        product=ProductInfo(
            id=row["product_id"],
            name=row["product_name"],
            description=row["product_description"],
            condition=row["product_condition"],
            category=row["category_name"],
            images=[
                ImageRef(
                    url=media_path_url(i["image"]) or "",
                    is_primary=i["is_primary"],
                    order=i["display_order"],
                )
                for i in images
            ],
        ),
        seller=SellerInfo(
            id=row["seller_id"],
            username=row["seller_username"],
            email=row["seller_email"],
            brand_name=profile["brand_name"] if profile else "",
            biography=profile["biography"] if profile else "",
            is_verified=bool(profile["is_verified"]) if profile else False,
            average_rating=format_money(profile["average_rating"]) if profile else "0.00",
            total_feedbacks=profile["total_feedbacks"] if profile else 0,
        ),
        starting_price=format_money(row["starting_price"]),
        current_price=format_money(row["current_price"]),
        start_time=row["start_time"],
        end_time=row["end_time"],
        status=status,
        is_active=status == AuctionStatus.active.value
        and row["start_time"] <= now < row["end_time"],
        winner=(
            WinnerInfo(id=row["winner_id"], username=row["winner_username"])
            if row["winner_id"] is not None
            else None
        ),
        total_bids=row["bid_count"],
        latest_bids=[
            BidInfo(bidder=b["bidder"], amount=format_money(b["amount"]), time=b["bid_time"])
            for b in bids
        ],
    )
