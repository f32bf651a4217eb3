"""Removing a bid (docs/auction-rules.md § 10): the transaction the bid desk runs for a removal, in
order with the auction's bids. It takes the auction's row as a bid batch does, reads the
auction's bids, lets ``removal_rules`` judge and recount, and writes in one transaction: the
flags of the bids removed, the winning flag, the auction row (price, leader, maximum, count,
``seq``), the ``bid_removed`` event and the notices. The event goes out after commit."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from piccolo.engine.base import Engine

from madeinpk.after_commit import AfterCommit
from madeinpk.auctions.bidding.refusals import Reason, Refused, refusal
from madeinpk.auctions.bidding.removal_rules import (
    Recount,
    Remover,
    StoredBid,
    check_removal,
    recount,
)
from madeinpk.auctions.bidding.row_state import lock_auction
from madeinpk.auctions.bidding.rules import AuctionState, Bidder, Increments
from madeinpk.auctions.events import bid_removed_payload
from madeinpk.auctions.live.messages import BidInfo, BidRemovedData
from madeinpk.auctions.live.snapshot import LATEST_BIDS
from madeinpk.auctions.tables import Auction, AuctionEvent
from madeinpk.auctions.tables import Bid as BidRow
from madeinpk.db.sql import Connection, transaction
from madeinpk.money import format_money, to_money
from madeinpk.notifications import texts
from madeinpk.notifications.tables import Notification, NotificationType
from madeinpk.notifications.texts import as_language


@dataclass(frozen=True, slots=True)
class RemovalRequest:
    """Remove bid ``bid_id`` (None: the remover's latest bid on the auction) of ``auction_id``:
    as staff (``as_staff``) or as its bidder retracting it."""

    auction_id: int
    bid_id: int | None
    remover: Remover
    as_staff: bool
    retract_seconds: int


@dataclass(frozen=True, slots=True)
class Removed:
    """What a removal did, as the event says it (``data``)."""

    data: BidRemovedData


RemovalOutcome = Removed | Refused


async def bid_auction(bid_id: int) -> int | None:
    """The auction a bid belongs to (a bid never moves), or None for an unknown bid."""
    row = await BidRow.select(BidRow.auction).where(BidRow.id == bid_id).first()
    return None if row is None else int(row["auction"])


async def removal_request(
    bid_id: int | None,
    remover: Remover,
    *,
    as_staff: bool,
    retract_seconds: int,
    auction_id: int | None = None,
) -> RemovalRequest | Refused:
    """The request the bid desk decides, for a bid named by id (whose auction is looked up; a
    socket names its own auction, and a bid of another is unknown there) or, over a socket, for
    the remover's latest bid (``bid_id`` None)."""
    if bid_id is not None:
        found = await bid_auction(bid_id)
        if found is None or (auction_id is not None and found != auction_id):
            return refusal(Reason.unknown_bid)
        auction_id = found
    if auction_id is None:
        return refusal(Reason.unknown_bid)
    return RemovalRequest(auction_id, bid_id, remover, as_staff, retract_seconds)


_BIDS = """
    SELECT b.id, b.bidder, u.username, u.email, b.amount, b.bid_time, b.seq, b.is_auto,
           b.max_amount, b.raised_max, b.removed_at,
           (SELECT pr.language FROM user_profile pr WHERE pr."user" = b.bidder) AS language
    FROM bid b JOIN piccolo_user u ON u.id = b.bidder
    WHERE b.auction = :auction
    ORDER BY b.seq, b.id
"""


async def remove_in_transaction(
    request: RemovalRequest, increments: Increments, done: AfterCommit
) -> RemovalOutcome:
    engine: Engine = Auction._meta.db
    async with transaction(engine) as db:
        locked = await lock_auction(db, request.auction_id, [])
        if locked is None:
            return refusal(Reason.unknown_bid)
        state, now, _ = locked
        state = replace(state, increments=increments)
        bids = [_stored(db, row) for row in await db.fetch(_BIDS, auction=request.auction_id)]
        target = _target(bids, request)
        refused = check_removal(
            state,
            target,
            request.remover,
            as_staff=request.as_staff,
            retract_seconds=request.retract_seconds,
            now=now,
        )
        if refused is not None or target is None:
            return refused or refusal(Reason.unknown_bid)
        result = recount(state, bids, target.id)
        after = replace(result.state, seq=state.seq + 1)
        data = removal_event(after, bids, result, target)
        await _write(db, request, state, after, result, data, target, now, done)
    return Removed(data)


def _stored(db: Connection, row: dict[str, Any]) -> StoredBid:
    return StoredBid(
        id=row["id"],
        bidder=Bidder(row["bidder"], row["username"], row["email"], row["language"] or "en"),
        amount=to_money(row["amount"]),
        time=db.dialect.timestamp(row["bid_time"]),
        seq=row["seq"],
        is_auto=bool(row["is_auto"]),
        max_amount=db.dialect.money(row["max_amount"]),
        raised_max=db.dialect.money(row["raised_max"]),
        removed=row["removed_at"] is not None,
    )


def _target(bids: list[StoredBid], request: RemovalRequest) -> StoredBid | None:
    if request.bid_id is not None:
        return next((b for b in bids if b.id == request.bid_id), None)
    own = [b for b in bids if b.bidder.id == request.remover.id and not b.is_auto]
    return next((b for b in reversed(own) if not b.removed), own[-1] if own else None)


def removal_event(
    after: AuctionState, bids: list[StoredBid], result: Recount, target: StoredBid
) -> BidRemovedData:
    """``bid_removed``'s data: the state after, and the newest bids left."""
    gone = set(result.removed)
    left = sorted(
        (b for b in bids if not b.removed and b.id not in gone),
        key=lambda b: (b.time, b.id),
        reverse=True,
    )
    return BidRemovedData(
        bid_id=target.id,
        current_price=format_money(after.current_price),
        leader=after.leader.username if after.leader else None,
        seq=after.seq,
        auction_id=after.auction_id,
        removed=result.removed,
        total_bids=after.bid_count,
        min_next_bid=format_money(after.min_next_bid()),
        latest_bids=[
            BidInfo(
                bidder=b.bidder.username, amount=format_money(b.amount), time=b.time, auto=b.is_auto
            )
            for b in left[:LATEST_BIDS]
        ],
    )


async def _write(
    db: Connection,
    request: RemovalRequest,
    before: AuctionState,
    after: AuctionState,
    result: Recount,
    data: BidRemovedData,
    target: StoredBid,
    now: datetime,
    done: AfterCommit,
) -> None:
    """Flags first, then the one winning bid (SQLite checks "one winner" after each statement),
    the kept maxima, the auction row, the event and the notices."""
    auction_id = before.auction_id
    among = db.dialect.among("gone")
    await db.execute(
        "UPDATE bid SET removed_at = :now, removed_by = :by, is_winning = FALSE, "
        f"removed_with = CASE WHEN id = :target THEN NULL ELSE :target END WHERE id {among}",
        now=now,
        by=request.remover.id,
        target=target.id,
        gone=result.removed,
    )
    await db.execute(
        "UPDATE bid SET is_winning = FALSE WHERE auction = :auction AND is_winning",
        auction=auction_id,
    )
    if result.winning is not None:
        await db.execute("UPDATE bid SET is_winning = TRUE WHERE id = :id", id=result.winning)
    for bid_id, raised in result.raises.items():
        await db.execute(
            "UPDATE bid SET raised_max = :raised WHERE id = :id", raised=raised, id=bid_id
        )
    await db.execute(
        "UPDATE auction SET current_price = :price, bid_count = :count, seq = :seq, "
        "leader = :leader, leader_max = :leader_max, updated_at = :now WHERE id = :auction",
        price=after.current_price,
        count=after.bid_count,
        seq=after.seq,
        leader=after.leader.id if after.leader else None,
        leader_max=after.leader_max,
        now=now,
        auction=auction_id,
    )
    payload = bid_removed_payload(data)
    notices = _notices(request, before, after, target)
    statements = [
        db.insert_sql(
            AuctionEvent,
            ("auction", "seq", "payload", "created_at"),
            [(auction_id, after.seq, payload.decode(), now)],
            prefix="ev",
        )
    ]
    if notices:
        statements.append(
            db.insert_sql(
                Notification,
                ("user", "notification_type", "title", "message", "auction", "created_at"),
                [(*n, auction_id, now) for n in notices],
                prefix="nt",
            )
        )
    await db.together(statements)
    done.broadcast(auction_id, after.seq, payload)
    done.notify_users(n[0] for n in notices)


def _notices(
    request: RemovalRequest, before: AuctionState, after: AuctionState, target: StoredBid
) -> list[tuple[int, str, str, str]]:
    """A staff removal tells the bid's owner; a lead that moved tells its new holder (in-app and
    on ``/ws/notifications/``, in their language; no email: nothing is asked of them)."""
    product, notices = before.product_name, []
    if request.as_staff and target.bidder.id != request.remover.id:
        notices.append(
            (
                target.bidder.id,
                NotificationType.bid_removed.value,
                *texts.BID_REMOVED.render(
                    as_language(target.bidder.language), amount=target.amount, product=product
                ),
            )
        )
    leader, was = after.leader, before.leader
    if leader is not None and (was is None or was.id != leader.id):
        if leader.id != request.remover.id:
            notices.append(
                (
                    leader.id,
                    NotificationType.lead_regained.value,
                    *texts.LEAD_REGAINED.render(
                        as_language(leader.language), amount=after.current_price, product=product
                    ),
                )
            )
    return notices
