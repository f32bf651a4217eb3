"""Order and feedback bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

# The order embeds the buyer's address body as ``shipping_address_detail``, the very shape the
# addresses API returns.
from madeinpk.accounts.addresses.schemas import Address
from madeinpk.money import format_money, to_money


class Order(msgspec.Struct):
    id: int
    order_number: str
    buyer: int
    buyer_username: str
    seller: int
    seller_username: str
    product: int
    product_name: str
    order_type: str
    quantity: int
    unit_price: str
    total_amount: str
    platform_fee: str
    seller_amount: str
    shipping_address: int | None
    shipping_address_detail: Address | None
    status: str
    payment_url: str
    payment_deadline: datetime
    created_at: datetime
    paid_at: datetime | None
    shipped_at: datetime | None
    delivered_at: datetime | None


class FeedbackCreate(msgspec.Struct):
    order_id: int
    seller_rating: int
    platform_rating: int
    communication_rating: int
    shipping_speed_rating: int
    seller_comment: str = ""
    platform_comment: str = ""
    product_as_described: bool = True


class Feedback(msgspec.Struct):
    id: int
    order: int
    buyer: int
    buyer_username: str
    seller: int
    seller_rating: int
    platform_rating: int
    communication_rating: int
    shipping_speed_rating: int
    seller_comment: str
    platform_comment: str
    product_as_described: bool
    created_at: datetime
    updated_at: datetime


class FeedbackUpdate(msgspec.Struct):
    """PATCH: any of the four ratings, the comments and ``product_as_described``. ``order_id``
    and the parties are not fields here, so they cannot be changed (unknown keys are ignored)."""

    seller_rating: int | UnsetType = UNSET
    platform_rating: int | UnsetType = UNSET
    communication_rating: int | UnsetType = UNSET
    shipping_speed_rating: int | UnsetType = UNSET
    seller_comment: str | UnsetType = UNSET
    platform_comment: str | UnsetType = UNSET
    product_as_described: bool | UnsetType = UNSET


class SellerStats(msgspec.Struct):
    """Averages rounded to 2 dp, the percentage to 1 dp; all null while there is no feedback."""

    total_feedbacks: int
    average_seller_rating: float | None
    average_communication: float | None
    average_shipping: float | None
    product_as_described_percent: float | None


def feedback_body(row: dict[str, Any]) -> Feedback:
    return Feedback(
        id=row["id"],
        order=row["order"],
        buyer=row["buyer"],
        buyer_username=row["buyer_username"],
        seller=row["seller"],
        seller_rating=row["seller_rating"],
        platform_rating=row["platform_rating"],
        communication_rating=row["communication_rating"],
        shipping_speed_rating=row["shipping_speed_rating"],
        seller_comment=row["seller_comment"],
        platform_comment=row["platform_comment"],
        product_as_described=bool(row["product_as_described"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class SellerStatistics(msgspec.Struct):
    total_sales: int
    total_orders: int
    pending_orders: int
    total_revenue: str
    current_month_earnings: str
    total_products: int
    active_auctions: int


class Offer(msgspec.Struct):
    """A second-chance offer (docs/rest-api.md § Second-chance offers)."""

    id: int
    order: int  # the missed order
    auction: int | None
    product: int
    product_name: str
    bidder: int
    bidder_username: str
    seller: int
    seller_username: str
    amount: str
    status: str  # pending, accepted, declined, expired
    expires_at: datetime
    created_at: datetime
    decided_at: datetime | None
    new_order: int | None  # the order an acceptance created


def offer_body(row: dict[str, Any]) -> Offer:
    return Offer(
        id=row["id"],
        order=row["order"],
        auction=row["auction"],
        product=row["product"],
        product_name=row["product_name"],
        bidder=row["bidder"],
        bidder_username=row["bidder_username"],
        seller=row["seller"],
        seller_username=row["seller_username"],
        amount=format_money(to_money(row["amount"])),
        status=row["status"],
        expires_at=row["expires_at"],
        created_at=row["created_at"],
        decided_at=row["decided_at"],
        new_order=row["new_order"],
    )
