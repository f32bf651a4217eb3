"""Auction tables. ``current_price`` is the only mutable price: bids move it with one conditional
UPDATE, so it is the single point of serialisation for a hot auction."""

from __future__ import annotations

from enum import Enum

from piccolo.apps.user.tables import BaseUser
from piccolo.columns import Boolean, ForeignKey, Integer, Numeric, OnDelete, Timestamptz, Varchar
from piccolo.table import Table

from madeinpk.catalog.tables import Product


class AuctionStatus(str, Enum):
    active = "active"
    ended = "ended"
    cancelled = "cancelled"
    completed = "completed"


class Auction(Table):
    product = ForeignKey(Product, unique=True, null=False, on_delete=OnDelete.cascade)
    starting_price = Numeric(digits=(10, 2))
    current_price = Numeric(digits=(10, 2))
    # Bumped by the same conditional UPDATE that accepts a bid: the bid's sequence number in this
    # auction, which lets every app process put events from other processes back in order.
    bid_count = Integer(default=0)
    start_time = Timestamptz()
    end_time = Timestamptz()
    status = Varchar(length=10, choices=AuctionStatus, default=AuctionStatus.active.value)
    winner = ForeignKey(BaseUser, null=True, on_delete=OnDelete.set_null)
    created_at = Timestamptz(index=True)
    updated_at = Timestamptz()


class Bid(Table):
    auction = ForeignKey(Auction, null=False, on_delete=OnDelete.cascade)
    bidder = ForeignKey(BaseUser, null=False, on_delete=OnDelete.cascade, index=True)
    amount = Numeric(digits=(10, 2))
    bid_time = Timestamptz()
    is_winning = Boolean(default=False)
