"""Buy It Now in the rule core (docs/auction-rules.md, "Buy It Now"): what a purchase decides,
and when one is allowed. ``rules.decide`` takes it in order with the bids; pure, like the rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import msgspec

from madeinpk.auctions.bidding.refusals import BUY_OWN_AUCTION, Reason, Refused, refusal

if TYPE_CHECKING:
    from madeinpk.auctions.bidding.rules import Attempt, AuctionState, Bidder


class Bought(msgspec.Struct, frozen=True, tag="bought"):
    """The buyer bought the item at ``price``; the auction ended with event ``seq``.
    ``order_id`` and ``order_number`` are the order written with it, filled in once written."""

    price: Decimal
    seq: int
    time: datetime
    order_id: int = 0
    order_number: str = ""


@dataclass(frozen=True, slots=True)
class Purchase:
    """``buyer`` bought at ``price``; the auction ends with event ``seq`` (after the batch's
    bids before it), its end moved to ``time``."""

    buyer: Bidder
    price: Decimal
    seq: int
    time: datetime


def buy_now_allowed(
    buy_now_price: Decimal | None,
    reserve_price: Decimal | None,
    current_price: Decimal,
    bid_count: int,
) -> bool:
    """Buy It Now stays while no bid reached the reserve, or, without a reserve, while the
    price is below the Buy It Now price. The one source of the rule (pages ask it too)."""
    if buy_now_price is None:
        return False
    if reserve_price is not None:
        return bid_count == 0 or current_price < reserve_price
    return current_price < buy_now_price


def buy_now_open(state: AuctionState) -> bool:
    return buy_now_allowed(
        state.buy_now_price, state.reserve_price, state.current_price, state.bid_count
    )


def buy_now_refusal(state: AuctionState, attempt: Attempt, now: datetime) -> Refused | None:
    """A bid's first checks in the bid's order (blocked, not active, own auction), then
    whether Buy It Now is offered and still open."""
    if attempt.blocked:
        return refusal(Reason.blocked)
    if not state.is_open(now):
        return refusal(Reason.not_active)
    if attempt.bidder.id == state.seller_id:
        return Refused(Reason.own_auction, BUY_OWN_AUCTION)
    if state.buy_now_price is None:
        return refusal(Reason.no_buy_now)
    if not buy_now_open(state):
        return refusal(Reason.buy_now_closed)
    return None
