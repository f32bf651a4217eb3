"""Relisting (docs/auction-rules.md § Relist): a new run of an auction that ended without a sale,
by the seller's request. (``auto_relist``'s runs are made by the ending itself:
``lifecycle.endings``.)"""

from __future__ import annotations

from typing import Any

from msgspec import UNSET

from madeinpk.after_commit import AfterCommit, Effects
from madeinpk.auctions.lifecycle.timetable import schedule_tasks
from madeinpk.auctions.schemas import AuctionRelist, AuctionUpdate
from madeinpk.auctions.selling import (
    Options,
    check_terms,
    insert_auction,
    own_auction,
)
from madeinpk.auctions.tables import Auction, AuctionStatus, Bid
from madeinpk.db.database import is_unique_violation, write_transaction
from madeinpk.db.sql import raw
from madeinpk.http.auth import Account
from madeinpk.http.bodies import to_struct
from madeinpk.http.errors import BusinessError, FieldErrorCollector
from madeinpk.money import Amount, stored_money, to_money
from madeinpk.notifications import texts
from madeinpk.notifications.service import collecting_notified, notify
from madeinpk.notifications.tables import NotificationType
from madeinpk.notifications.texts import as_language

NOT_ENDED = "Only an auction that has ended can be relisted"
SOLD = "Only an auction that ended without a sale can be relisted"
OFFER_PENDING = "A second-chance offer for this auction is still pending"
ALREADY_RELISTED = "This auction has already been relisted"
UNSOLD_STATUSES = (AuctionStatus.ended.value, AuctionStatus.cancelled.value)

# Orders and offers sit above auctions: they are named here by their SQL names (as
# ``catalog.service`` names the auction table; docs/architecture.md lists them). A run is unsold
# when none of its orders is awaiting payment or paid (a missed one does not count) and no
# second-chance offer of it awaits an answer.
_SALE_OF_RUN = (
    "SELECT 1 AS sold FROM auction_order WHERE auction = :auction AND status <> 'payment_failed'"
)
_PENDING_OFFER = (
    "SELECT 1 AS pending FROM second_chance_offer WHERE auction = :auction AND status = 'pending'"
)
# The old run's bidders, each once with their language, and the new run's product.
_BIDDERS = """
    SELECT DISTINCT b.bidder, p.name,
           (SELECT pr.language FROM user_profile pr WHERE pr."user" = b.bidder) AS language
    FROM bid b LEFT JOIN auction a ON a.id = :new LEFT JOIN product p ON p.id = a.product
    WHERE b.auction = :old
    ORDER BY b.bidder
"""


async def relist_auction(
    account: Account, auction_id: int, fields: dict[str, Any], effects: Effects
) -> int:
    """A new run of an unsold auction: same product, starting price and options, new times
    (checked as at creation), its own ``auto_relist``. Returns the new auction's id."""
    row = await own_auction(account, auction_id)
    errors = FieldErrorCollector()
    data = to_struct(fields, AuctionRelist, errors)
    times = {
        name: getattr(data, name)
        for name in ("start_time", "end_time")
        if getattr(data, name) is not UNSET
    }
    terms = check_terms(
        errors,
        AuctionUpdate(starting_price=Amount(to_money(row["starting_price"])), **times),
        None,
    )
    errors.check()
    assert terms is not None
    if row["status"] not in UNSOLD_STATUSES:
        raise BusinessError(NOT_ENDED)
    if await raw(Auction, _SALE_OF_RUN, auction=auction_id):
        raise BusinessError(SOLD)
    if await raw(Auction, _PENDING_OFFER, auction=auction_id):
        raise BusinessError(OFFER_PENDING)
    options = Options(
        min_increment=stored_money(row["min_increment"]),
        reserve_price=stored_money(row["reserve_price"]),
        soft_close_seconds=row["soft_close_seconds"],
        buy_now_price=stored_money(row["buy_now_price"]),
        auto_relist=data.auto_relist if isinstance(data.auto_relist, int) else 0,
    )
    try:
        with collecting_notified() as notified:
            async with write_transaction():
                if await Auction.exists().where(Auction.relisted_from == auction_id):
                    raise BusinessError(ALREADY_RELISTED)
                new_id = await insert_auction(row["product"], terms, options, auction_id)
                await tell_bidders(auction_id, new_id)
    except Exception as exc:
        if is_unique_violation(exc):  # a second relist of the same run, a moment later
            raise BusinessError(ALREADY_RELISTED) from None
        raise
    done = AfterCommit()
    done.notify_users(notified)
    effects.flush(done)
    schedule_tasks(effects, new_id, terms)
    return new_id


async def tell_bidders(old_id: int, new_id: int) -> None:
    """The old run's bidders hear that the item is up again (in-app, ``auction_relisted``, in
    their language)."""
    for row in await raw(Bid, _BIDDERS, old=old_id, new=new_id):
        language = as_language(row["language"])
        await notify(
            row["bidder"],
            NotificationType.auction_relisted,
            *texts.RELISTED.render(
                language,
                product=row["name"] or texts.AN_ITEM_YOU_BID_ON.render(language),
                auction=new_id,
            ),
            auction_id=new_id,
        )
