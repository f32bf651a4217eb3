"""Order tables: what a won auction turns into, and what happens when it is not paid."""

from __future__ import annotations

from enum import Enum

from piccolo.apps.user.tables import BaseUser
from piccolo.columns import (
    Boolean,
    ForeignKey,
    Integer,
    Numeric,
    OnDelete,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from madeinpk.accounts.tables import Address
from madeinpk.auctions.tables import Auction
from madeinpk.catalog.tables import Product


class OrderStatus(str, Enum):
    pending_payment = "pending_payment"
    payment_failed = "payment_failed"
    paid = "paid"
    shipped = "shipped"
    delivered = "delivered"
    cancelled = "cancelled"


class Order(Table, tablename="auction_order"):  # ORDER is an SQL keyword
    id: Serial  # the primary key Piccolo adds (every table here), declared for type checkers
    order_number = Varchar(length=16, unique=True)
    buyer = ForeignKey(BaseUser, null=False, on_delete=OnDelete.restrict, index=True)
    seller = ForeignKey(BaseUser, null=False, on_delete=OnDelete.restrict, index=True)
    product = ForeignKey(Product, null=False, on_delete=OnDelete.restrict)
    # A run's order, and after a missed payment the second-chance order of the same run.
    auction = ForeignKey(Auction, null=True, on_delete=OnDelete.set_null, index=True)
    order_type = Varchar(length=10, default="auction")
    quantity = Integer(default=1)
    unit_price = Numeric(digits=(10, 2))
    total_amount = Numeric(digits=(10, 2))
    platform_fee = Numeric(digits=(10, 2))
    seller_amount = Numeric(digits=(10, 2))
    shipping_address = ForeignKey(Address, null=True, on_delete=OnDelete.set_null)
    status = Varchar(length=20, choices=OrderStatus, default=OrderStatus.pending_payment.value)
    payment_deadline = Timestamptz()
    created_at = Timestamptz()
    paid_at = Timestamptz(null=True, default=None)
    shipped_at = Timestamptz(null=True, default=None)
    delivered_at = Timestamptz(null=True, default=None)


class PaymentViolation(Table, tablename="payment_violation"):
    id: Serial
    user = ForeignKey(BaseUser, null=False, on_delete=OnDelete.cascade, index=True)
    order = ForeignKey(Order, unique=True, null=False, on_delete=OnDelete.cascade)
    reason = Text(default="")
    created_at = Timestamptz()


class Feedback(Table):
    id: Serial
    order = ForeignKey(Order, unique=True, null=False, on_delete=OnDelete.cascade)
    buyer = ForeignKey(BaseUser, null=False, on_delete=OnDelete.cascade, index=True)
    seller = ForeignKey(BaseUser, null=False, on_delete=OnDelete.cascade, index=True)
    seller_rating = Integer()
    platform_rating = Integer()
    communication_rating = Integer()
    shipping_speed_rating = Integer()
    seller_comment = Text(default="")
    platform_comment = Text(default="")
    product_as_described = Boolean(default=True)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class OfferStatus(str, Enum):
    pending = "pending"
    accepted = "accepted"
    declined = "declined"
    expired = "expired"


class Offer(Table, tablename="second_chance_offer"):
    """The seller's second-chance offer of a missed order's item to the next-highest bidder, at
    that bidder's highest bid (docs/auction-rules.md § Second-chance offer). One per missed
    order; accepting it creates ``new_order``."""

    id: Serial
    order = ForeignKey(Order, unique=True, null=False, on_delete=OnDelete.cascade)
    auction = ForeignKey(Auction, null=True, on_delete=OnDelete.set_null)
    bidder = ForeignKey(BaseUser, null=False, on_delete=OnDelete.cascade, index=True)
    seller = ForeignKey(BaseUser, null=False, on_delete=OnDelete.cascade, index=True)
    amount = Numeric(digits=(10, 2))
    status = Varchar(length=10, choices=OfferStatus, default=OfferStatus.pending.value)
    expires_at = Timestamptz()
    created_at = Timestamptz()
    decided_at = Timestamptz(null=True, default=None)
    new_order = ForeignKey(Order, null=True, on_delete=OnDelete.set_null)
