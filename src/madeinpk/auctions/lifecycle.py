"""Ending auctions: exactly once, whoever runs it (the scheduled task, the sweep, two workers).

The state change is one conditional UPDATE (``active`` → ``ended`` only if the end time has
passed by the database clock), which also takes the auction's next event number, so
``auction_ended`` can never overtake a bid. The winner is then read in a fresh statement, so a
bid that committed while the UPDATE waited for the row is seen. The order, the notifications,
the emails and the event are written in the same transaction; the event is broadcast and the
emails handed over after commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from piccolo.engine.postgres import PostgresEngine

from madeinpk import metrics
from madeinpk.after_commit import AfterCommit, Effects
from madeinpk.auctions.events import auction_ended_payload
from madeinpk.auctions.tables import Auction, AuctionEvent, AuctionStatus, Bid
from madeinpk.catalog.tables import Product
from madeinpk.database import write_transaction
from madeinpk.money import format_money, to_money
from madeinpk.notifications.emails import (
    AUCTION_ENDED_SELLER,
    AUCTION_LOST,
    AUCTION_WON,
    RESERVE_NOT_MET,
)
from madeinpk.notifications.live import collecting_notified
from madeinpk.notifications.service import notify, queue_email
from madeinpk.notifications.tables import NotificationType
from madeinpk.orders.service import create_auction_order
from madeinpk.settings import Settings
from madeinpk.timestamps import as_utc, utc_now

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class EndedAuction:
    auction_id: int
    seq: int
    end_time: datetime
    product_name: str
    winner: str | None
    final_price: Decimal
    reserve_met: bool | None = None
    email_ids: list[int] = field(default_factory=list)

    def payload(self) -> bytes:
        return auction_ended_payload(
            self.auction_id,
            self.seq,
            self.winner,
            self.final_price,
            self.product_name,
            self.reserve_met,
        )


_CLOSE = """
    UPDATE auction SET status = 'ended', seq = seq + 1, updated_at = {}
    WHERE id = {} AND status = 'active' AND end_time <= %s
    RETURNING id, product, current_price, end_time, seq, reserve_price
"""


def _close_query(auction_id: int) -> tuple[str, list[object]]:
    now = utc_now()
    if isinstance(Auction._meta.db, PostgresEngine):
        return _CLOSE % "statement_timestamp()", [now, auction_id]
    return _CLOSE % "{}", [now, auction_id, now]


async def end_auction(auction_id: int, settings: Settings) -> EndedAuction | None:
    """End one auction if it is due and still active; None if there was nothing to do."""
    sql, args = _close_query(auction_id)
    async with write_transaction():
        closed = await Auction.raw(sql, *args)
        if not closed:
            return None
        ended = await _settle(auction_id, closed[0], settings)
        await AuctionEvent.insert(
            AuctionEvent(
                auction=auction_id,
                seq=ended.seq,
                payload=ended.payload().decode(),
                created_at=utc_now(),
            )
        )
    return ended


async def _settle(auction_id: int, row: dict[str, object], settings: Settings) -> EndedAuction:
    """The winner, the order, the notifications and the emails of an auction just closed."""
    product = (
        await Product.select(
            Product.name,
            Product.seller,
            Product.seller.username.as_alias("seller_username"),
            Product.seller.email.as_alias("seller_email"),
        )
        .where(Product.id == row["product"])
        .first()
    )
    assert product is not None
    # The winning bid is the leader's latest (a proxy tie goes to the earlier maximum).
    top = (
        await Bid.select(
            Bid.bidder,
            Bid.amount,
            Bid.bidder.username.as_alias("username"),
            Bid.bidder.email.as_alias("email"),
        )
        .where((Bid.auction == auction_id) & (Bid.is_winning == True))  # noqa: E712
        .first()
    )
    name = product["name"]
    seq = row["seq"]
    assert isinstance(seq, int)
    end_time = row["end_time"]  # SQLite may hand a computed column back as text
    end_time = datetime.fromisoformat(end_time) if isinstance(end_time, str) else end_time
    assert isinstance(end_time, datetime)
    ended = EndedAuction(
        auction_id, seq, as_utc(end_time), name, None, to_money(str(row["current_price"]))
    )
    reserve = row["reserve_price"]
    if reserve is not None:
        ended.reserve_met = top is not None and to_money(top["amount"]) >= to_money(reserve)
    if top is None:
        await _tell_seller(ended, product, f"Your auction for {name} has ended with no bids.")
        return ended
    amount = to_money(top["amount"])
    if ended.reserve_met is False:
        ended.final_price = amount
        await _reserve_not_met(ended, product, top)
        return ended
    ended.winner, ended.final_price = top["username"], amount
    await Auction.update({Auction.winner: top["bidder"]}).where(Auction.id == auction_id)
    order = await create_auction_order(
        auction_id=auction_id,
        product_id=row["product"],
        buyer_id=top["bidder"],
        seller_id=product["seller"],
        amount=amount,
        ended_at=row["end_time"],
        settings=settings,
    )
    price = format_money(amount)
    hours = settings.payment_deadline_hours
    await notify(
        top["bidder"],
        NotificationType.auction_won,
        "Congratulations! You won the auction",
        f"You won the auction for {name}. Please complete payment within {hours} hours: "
        f"{order.payment_url}",
        auction_id=auction_id,
        order_id=order.id,
    )
    subject, body = AUCTION_WON.render(
        username=top["username"],
        product=name,
        amount=price,
        order_number=order.order_number,
        hours=str(hours),
        payment_url=order.payment_url,
    )
    ended.email_ids.append(await _queue(f"auction_won:{auction_id}", top["email"], subject, body))
    losers = (
        await Bid.select(
            Bid.bidder,
            Bid.bidder.username.as_alias("username"),
            Bid.bidder.email.as_alias("email"),
        )
        .where((Bid.auction == auction_id) & (Bid.bidder != top["bidder"]))
        .distinct()
    )
    for loser in losers:
        await notify(
            loser["bidder"],
            NotificationType.auction_lost,
            "Auction ended",
            f"The auction for {name} has ended. The winning bid was Rs. {price}.",
            auction_id=auction_id,
        )
        subject, body = AUCTION_LOST.render(username=loser["username"], product=name, amount=price)
        ended.email_ids.append(
            await _queue(
                f"auction_lost:{auction_id}:{loser['bidder']}", loser["email"], subject, body
            )
        )
    await _tell_seller(
        ended, product, f"Your auction for {name} has ended. Winner: {top['username']}"
    )
    return ended


async def _reserve_not_met(
    ended: EndedAuction, product: dict[str, object], top: dict[str, object]
) -> None:
    """No sale: the seller and the highest bidder are told (auction-engine.md § 3)."""
    name = ended.product_name
    message = f"The auction for {name} has ended without a sale: the reserve price was not met."
    bidder_id = top["bidder"]
    assert isinstance(bidder_id, int)
    await notify(
        bidder_id,
        NotificationType.auction_lost,
        "Auction ended",
        message,
        auction_id=ended.auction_id,
    )
    subject, body = RESERVE_NOT_MET.render(username=str(top["username"]), message=message)
    ended.email_ids.append(
        await _queue(
            f"auction_lost:{ended.auction_id}:{bidder_id}", str(top["email"]), subject, body
        )
    )
    await _tell_seller(
        ended, product, f"Your auction for {name} has ended. The reserve price was not met."
    )


async def _tell_seller(ended: EndedAuction, product: dict[str, object], message: str) -> None:
    seller_id = product["seller"]
    assert isinstance(seller_id, int)
    await notify(
        seller_id,
        NotificationType.auction_ended,
        "Your auction has ended",
        message,
        auction_id=ended.auction_id,
    )
    outcome = message
    if ended.winner and ended.reserve_met is not False:
        outcome += (
            f" at Rs. {format_money(ended.final_price)}. The buyer has been sent payment details."
        )
    subject, body = AUCTION_ENDED_SELLER.render(
        username=str(product["seller_username"]), product=ended.product_name, outcome=outcome
    )
    ended.email_ids.append(
        await _queue(
            f"auction_ended:{ended.auction_id}", str(product["seller_email"]), subject, body
        )
    )


async def _queue(key: str, to: str, subject: str, body: str) -> int:
    email_id = await queue_email(key, to, subject, body)
    # The auction moved to "ended" in this very transaction, so no email for it exists yet.
    assert email_id is not None, key
    return email_id


async def end_time_if_active(auction_id: int) -> datetime | None:
    row = (
        await Auction.select(Auction.end_time)
        .where((Auction.id == auction_id) & (Auction.status == AuctionStatus.active.value))
        .first()
    )
    return row["end_time"] if row else None


async def due_auction_ids(grace: timedelta = timedelta(0), limit: int = 1000) -> list[int]:
    """Active auctions whose end time passed more than ``grace`` ago."""
    rows = (
        await Auction.select(Auction.id)
        .where(
            (Auction.status == AuctionStatus.active.value) & (Auction.end_time <= utc_now() - grace)
        )
        .order_by(Auction.end_time)
        .limit(limit)
    )
    return [r["id"] for r in rows]


async def finish_auction(auction_id: int, settings: Settings, effects: Effects) -> bool:
    """End, then tell every watcher and hand the emails to workers. True if this call ended it."""
    with collecting_notified() as notified:
        ended = await end_auction(auction_id, settings)
    if ended is None:
        return False
    metrics.observe_ending_delay((utc_now() - ended.end_time).total_seconds())
    done = AfterCommit()
    done.notify_users(notified)
    done.broadcast(auction_id, ended.seq, ended.payload())
    done.send_emails(ended.email_ids)
    effects.flush(done)
    logger.info("Auction %s ended (winner: %s)", auction_id, ended.winner)
    return True
