"""What a watcher sees on connect: ``auction_status``, read in four indexed queries."""

from __future__ import annotations

import asyncio

from madeinpk.accounts.tables import SellerProfile
from madeinpk.auctions.bidding.rules import Increments
from madeinpk.auctions.derived import derived_fields, starts_in
from madeinpk.auctions.live.messages import (
    AuctionStatusData,
    BidInfo,
    ImageRef,
    ProductInfo,
    SellerInfo,
    WinnerInfo,
)
from madeinpk.auctions.tables import Auction, AuctionStatus, Bid
from madeinpk.catalog.tables import ProductImage
from madeinpk.media import media_path_url
from madeinpk.money import format_money
from madeinpk.timestamps import utc_now

LATEST_BIDS = 5


async def auction_status(
    auction_id: int,
    *,
    viewer_id: int | None,
    increments: Increments = (),
    show_seller_email: bool | None = None,
) -> AuctionStatusData | None:
    """Everything a watcher sees on connect (``auction_status``), in four indexed reads.

    The seller's email goes to signed-in watchers only (the REST contract keeps it private);
    anonymous spectators get ``null``. ``my_max_bid`` is the viewer's own maximum, when the
    viewer leads; ``increments`` is the site's step table (``BID_INCREMENTS``)."""
    row = (
        await Auction.select(
            Auction.id,
            Auction.starting_price,
            Auction.current_price,
            Auction.start_time,
            Auction.end_time,
            Auction.status,
            Auction.bid_count,
            Auction.seq,
            Auction.min_increment,
            Auction.reserve_price,
            Auction.soft_close_seconds,
            Auction.leader,
            Auction.leader_max,
            Auction.buy_now_price,
            Auction.bought_now,
            Auction.winner.id.as_alias("winner_id"),
            Auction.winner.username.as_alias("winner_username"),
            Auction.product.id.as_alias("product_id"),
            Auction.product.name.as_alias("product_name"),
            Auction.product.description.as_alias("product_description"),
            Auction.product.condition.as_alias("product_condition"),
            Auction.product._.category._.name.as_alias("category_name"),
            Auction.product._.seller._.id.as_alias("seller_id"),
            Auction.product._.seller._.username.as_alias("seller_username"),
            Auction.product._.seller._.email.as_alias("seller_email"),
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
        Bid.select(Bid.bidder.username.as_alias("bidder"), Bid.amount, Bid.bid_time, Bid.is_auto)
        .where((Bid.auction == auction_id) & Bid.removed_at.is_null())
        .order_by(Bid.bid_time, ascending=False)
        .order_by(Bid.id, ascending=False)
        .limit(LATEST_BIDS),
    )
    now = utc_now()
    status = row["status"]
    derived = derived_fields(row, viewer_id, increments)
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
            email=row["seller_email"]
            if (viewer_id is not None if show_seller_email is None else show_seller_email)
            else None,
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
            BidInfo(
                bidder=b["bidder"],
                amount=format_money(b["amount"]),
                time=b["bid_time"],
                auto=bool(b["is_auto"]),
            )
            for b in bids
        ],
        seq=row["seq"],
        server_time=now,
        min_increment=derived.min_increment,
        min_next_bid=derived.min_next_bid,
        reserve_met=derived.reserve_met,
        soft_close_seconds=row["soft_close_seconds"],
        my_max_bid=derived.my_max_bid,
        starts_in=starts_in(status, row["start_time"], now),
        buy_now_price=derived.buy_now_price,
        buy_now_open=derived.buy_now_open
        and status == AuctionStatus.active.value
        and row["start_time"] <= now < row["end_time"],
        bought_now=derived.bought_now,
    )
