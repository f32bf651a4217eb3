"""Auction tables. The auction row is the single point of serialisation for a hot auction: every
batch of bids takes it, decides against what it holds, and moves it once."""

from __future__ import annotations

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

from madeinpk.auctions.bidding.rules import AuctionStatus as AuctionStatus
from madeinpk.catalog.tables import Product


class Auction(Table):
    id: Serial  # the primary key Piccolo adds (every table here), declared for type checkers
    # A product may be auctioned again (a relist: a new row per run, ``relisted_from`` naming the
    # run before); the database keeps one open run per product (migration 2026-12-05T14:00).
    product = ForeignKey(Product, null=False, on_delete=OnDelete.cascade, index=True)
    starting_price = Numeric(digits=(10, 2))
    current_price = Numeric(digits=(10, 2))
    bid_count = Integer(default=0)
    # The number of the last event broadcast for this auction (new_bid, auction_ended): watchers
    # put events from every process back in this order, and replay from it.
    seq = Integer(default=0)
    # Who leads and when the last bid was stamped, kept on the row the bid path locks, so the
    # decision reads nothing that another transaction could change under it.
    leader = ForeignKey(BaseUser, null=True, on_delete=OnDelete.set_null)
    leader_max = Numeric(digits=(10, 2), null=True, default=None)  # secret: only to its owner
    last_bid_time = Timestamptz(null=True, default=None)
    # The seller's options (docs/auction-rules.md § 1); none set: the customer's plain rules.
    min_increment = Numeric(digits=(10, 2), null=True, default=None)
    reserve_price = Numeric(digits=(10, 2), null=True, default=None)  # secret: seller only
    soft_close_seconds = Integer(default=0)
    # Buy It Now (docs/auction-rules.md): its price (public; None: none), and whether the
    # auction ended by it.
    buy_now_price = Numeric(digits=(10, 2), null=True, default=None)
    bought_now = Boolean(default=False)
    start_time = Timestamptz()
    end_time = Timestamptz()
    status = Varchar(length=10, choices=AuctionStatus, default=AuctionStatus.active.value)
    winner = ForeignKey(BaseUser, null=True, on_delete=OnDelete.set_null)
    created_at = Timestamptz(index=True)
    updated_at = Timestamptz()
    # Relisting (docs/auction-rules.md § Relist): automatic relists left, and the run before.
    auto_relist = Integer(default=0)
    relisted_from: ForeignKey[Auction] = ForeignKey(
        "self", null=True, on_delete=OnDelete.set_null, unique=True
    )


class Bid(Table):
    id: Serial
    auction = ForeignKey(Auction, null=False, on_delete=OnDelete.cascade)
    bidder = ForeignKey(BaseUser, null=False, on_delete=OnDelete.cascade, index=True)
    amount = Numeric(digits=(10, 2))
    bid_time = Timestamptz()
    is_winning = Boolean(default=False)
    is_auto = Boolean(default=False)  # placed by a proxy on its owner's behalf
    seq = Integer(default=0)  # the seq of this bid's new_bid event
    # The ceilings a removal replays the bids with (docs/auction-rules.md § 10): the maximum the
    # bidder sent with this bid, and the maximum its bidder raised to while this bid was winning.
    max_amount = Numeric(digits=(10, 2), null=True, default=None)
    raised_max = Numeric(digits=(10, 2), null=True, default=None)
    # A removed bid stays, flagged: who removed it and when; ``removed_with`` is the bid whose
    # removal took this automatic bid along (null for the removed bid itself).
    removed_at = Timestamptz(null=True, default=None)
    removed_by = ForeignKey(BaseUser, null=True, on_delete=OnDelete.set_null)
    removed_with = Integer(null=True, default=None)


class AuctionEvent(Table, tablename="auction_event"):
    """Every event broadcast for an auction, exactly as sent, committed with what caused it: the
    record replay reads, and what a lost publish can be recovered from."""

    id: Serial
    auction = ForeignKey(Auction, null=False, on_delete=OnDelete.cascade)
    seq = Integer()
    payload = Text()
    created_at = Timestamptz()


class BidRequest(Table, tablename="bid_request"):
    """The first outcome of each keyed bid (``bid_id`` / ``Idempotency-Key``), so a retry gets
    the same answer and changes nothing, whichever process it reaches."""

    id: Serial
    bidder = ForeignKey(BaseUser, null=False, on_delete=OnDelete.cascade)
    key = Varchar(length=64)
    auction = ForeignKey(Auction, null=False, on_delete=OnDelete.cascade)
    amount = Numeric(digits=(10, 2))
    max_amount = Numeric(digits=(10, 2), null=True, default=None)
    outcome = Text()
    created_at = Timestamptz(index=True)


class Watch(Table):
    """A user watching an auction (their watchlist; docs/auction-rules.md § Watchlist and
    reminders). A table of its own, unique per (user, auction) by the index ``watch_user_auction``:
    watching never writes the auction row the bid path locks, and ``watch_count`` is counted.

    ``auction`` is an id, not a foreign key: PostgreSQL checks a foreign key by taking a share
    lock on the auction's row, which waits for (and then holds up) the bid path's ``FOR UPDATE``.
    Deleting an auction deletes its watches (``selling.delete_auction``); the readers join on
    the auction, so a watch left by other means is never seen."""

    id: Serial
    user = ForeignKey(BaseUser, null=False, on_delete=OnDelete.cascade)
    auction = Integer(index=True)
    created_at = Timestamptz()


class EndingReminder(Table, tablename="ending_reminder"):
    """The ``auction_ending_soon`` reminders of an auction were sent: at most one row per auction
    (unique), so the one-off task, the sweep and a racing worker send them once between them,
    and a soft close that moves the end never sends them again."""

    id: Serial
    auction = ForeignKey(Auction, unique=True, null=False, on_delete=OnDelete.cascade)
    sent_at = Timestamptz()
