"""Buy It Now's ending: in the bid batch's own transaction, with the row held, the auction a
purchase ended (``rules.decide``) is written as an ending writes it (``endings.write_endings``:
the order, the winner, every bidder's and the seller's notices and emails, ``auction_ended`` —
with ``buy_now: true``), the old winning bid is unflagged (the buyer holds no bid), and its
scheduled ending is cancelled after commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import msgspec

from madeinpk.after_commit import AfterCommit
from madeinpk.auctions.bidding.buy_now import Bought
from madeinpk.auctions.bidding.rules import Decision, Outcome
from madeinpk.auctions.lifecycle.endings import write_endings
from madeinpk.auctions.lifecycle.outcomes import Bidder, EndedBatch, Ending, OrderWriter
from madeinpk.auctions.tables import AuctionStatus
from madeinpk.db.sql import Connection
from madeinpk.notifications.texts import as_language
from madeinpk.settings import Settings

_AUCTION = """
    SELECT a.product, a.reserve_price, p.name, p.seller, u.username, u.email,
           (SELECT pr.language FROM user_profile pr WHERE pr."user" = p.seller) AS language
    FROM auction a JOIN product p ON p.id = a.product JOIN piccolo_user u ON u.id = p.seller
    WHERE a.id = :auction
"""
# Everyone who bid (told the auction ended, as at an ending, in their language; as there, a
# bidder whose bids were all removed is no bidder), and the buyer's default address.
_BIDDERS = """
    SELECT DISTINCT b.bidder, u.username, u.email,
           (SELECT pr.language FROM user_profile pr WHERE pr."user" = b.bidder) AS language
    FROM bid b JOIN piccolo_user u ON u.id = b.bidder
    WHERE b.auction = :auction AND b.removed_at IS NULL
    ORDER BY b.bidder
"""
_ADDRESS = """
    SELECT ad.id FROM address ad WHERE ad."user" = :buyer AND ad.is_default ORDER BY ad.id LIMIT 1
"""
_CLOSE = "UPDATE auction SET status = :ended, bought_now = TRUE WHERE id = :auction"
_UNWIN = "UPDATE bid SET is_winning = FALSE WHERE auction = :auction AND is_winning"


@dataclass(frozen=True, slots=True)
class Purchases:
    """What a bid desk needs to end an auction by Buy It Now: the settings (payment deadline,
    site address) and how an order is written (``orders.service.AUCTION_ORDERS``)."""

    settings: Settings
    orders: OrderWriter

    async def write(
        self,
        db: Connection,
        decision: Decision,
        outcomes: list[Outcome],
        done: AfterCommit,
        now: datetime,
    ) -> list[Outcome]:
        """After the batch's bids are written: close the auction for the buyer, write its
        ending, and fill the order into the ``Bought`` outcome."""
        purchase, auction_id = decision.purchase, decision.after.auction_id
        assert purchase is not None
        buyer = purchase.buyer
        [auction] = await db.fetch(_AUCTION, auction=auction_id)
        bidders = [
            Bidder(
                r["bidder"],
                r["username"],
                r["email"],
                False,
                None,
                None,
                as_language(r["language"]),
            )
            for r in await db.fetch(_BIDDERS, auction=auction_id)
            if r["bidder"] != buyer.id
        ]
        address = await db.fetch(_ADDRESS, buyer=buyer.id)
        top = Bidder(buyer.id, buyer.username, buyer.email, True, purchase.price, None)
        top.language = as_language(buyer.language)
        if address:
            top.address = address[0]["id"]
        bidders = [top, *bidders]
        row = {
            "id": auction_id,
            "product": auction["product"],
            "current_price": purchase.price,
            "end_time": purchase.time,
            "seq": purchase.seq,
            "reserve_price": auction["reserve_price"],
        }
        seller = {
            "product": auction["product"],
            "name": auction["name"],
            "seller": auction["seller"],
            "username": auction["username"],
            "email": auction["email"],
            "language": auction["language"],
        }
        ending = Ending(row, seller, bidders)
        ending.ended.buy_now = True
        await db.together(
            [
                (_UNWIN, {"auction": auction_id}),
                (_CLOSE, {"ended": AuctionStatus.ended.value, "auction": auction_id}),
            ]
        )
        batch = EndedBatch()
        orders = await write_endings(db, [ending], self.settings, self.orders, now, batch)
        ended = batch.after_commit()
        done.notify_users(ended.notified)
        done.events.extend(ended.events)  # after the batch's bids: in seq order
        done.send_emails(ended.email_ids)
        done.cancel_ending(auction_id)
        order_id = orders[auction_id]
        return [
            msgspec.structs.replace(o, order_id=order_id, order_number=ending.order_number)
            if isinstance(o, Bought) and o.seq == purchase.seq
            else o
            for o in outcomes
        ]
