"""The bidding rules: one pure function from an auction's state and the bid attempts that reached
it, in arrival order, to what happens. No I/O, no clock of its own.

REST and WebSocket bids, one at a time or a batch of a hundred, are all decided here; the caller
writes what the decision lists in one transaction and publishes its events after commit. A
refusal is explained from the same decision that refused it, never by reading again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import Enum

import msgspec

from madeinpk.money import CENT, format_money


class Reason(str, Enum):
    """Why a bid was refused: the ``error.code`` of the protocol."""

    not_found = "not_found"
    unauthenticated = "unauthenticated"
    blocked = "blocked"
    not_active = "not_active"
    own_auction = "own_auction"
    too_low = "too_low"
    invalid_amount = "invalid_amount"
    rate_limited = "rate_limited"
    invalid_message = "invalid_message"
    idempotency_conflict = "idempotency_conflict"
    internal = "internal"


# The customer's wording, word for word (``websocket-protocol.md``); {price} is the current price.
MESSAGES = {
    Reason.not_found: "Auction not found",
    Reason.unauthenticated: "You must be authenticated to place a bid",
    Reason.blocked: "Your account is blocked",
    Reason.not_active: "Auction is not active",
    Reason.own_auction: "You cannot bid on your own auction",
    Reason.too_low: "Bid must be higher than current price of {price}",
    Reason.invalid_amount: "Invalid bid amount",
    Reason.rate_limited: "Too many bids, slow down",
    Reason.idempotency_conflict: "Idempotency key reused with a different bid",
    Reason.internal: "Your bid could not be processed, please try again",
}


class Refused(msgspec.Struct, frozen=True, tag="refused"):
    reason: Reason
    message: str


def refusal(reason: Reason, price: Decimal | None = None) -> Refused:
    text = MESSAGES[reason]
    return Refused(reason, text.format(price=format_money(price)) if price is not None else text)


class Accepted(msgspec.Struct, frozen=True, tag="accepted"):
    """The bidder's recorded bid; ``bid_id`` is the stored row's id, filled in once written."""

    amount: Decimal
    current_price: Decimal
    is_leading: bool
    seq: int
    time: datetime
    bid_id: int = 0


Outcome = Accepted | Refused


@dataclass(frozen=True, slots=True)
class Bidder:
    id: int
    username: str
    email: str


@dataclass(frozen=True, slots=True)
class Prior:
    """The first outcome of this attempt's idempotency key, when it was used before."""

    auction_id: int
    amount: Decimal
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class Attempt:
    bidder: Bidder
    amount: Decimal
    blocked: bool = False
    key: str | None = None  # the client's idempotency key (``bid_id`` / ``Idempotency-Key``)
    prior: Prior | None = None


@dataclass(frozen=True, slots=True)
class AuctionState:
    auction_id: int
    product_name: str
    seller_id: int
    status: str
    start_time: datetime
    end_time: datetime
    starting_price: Decimal
    current_price: Decimal
    bid_count: int
    seq: int
    leader: Bidder | None
    last_bid_time: datetime | None

    def is_open(self, now: datetime) -> bool:
        return self.status == "active" and self.start_time <= now < self.end_time

    def increment(self) -> Decimal:
        """The smallest step a new bid must add to the price."""
        return CENT

    def min_next_bid(self) -> Decimal:
        return self.current_price + self.increment()


@dataclass(frozen=True, slots=True)
class RecordedBid:
    bidder: Bidder
    amount: Decimal
    time: datetime
    seq: int
    is_auto: bool = False


@dataclass(frozen=True, slots=True)
class NewBidEvent:
    seq: int
    bidder: str
    amount: Decimal
    time: datetime
    auto: bool
    total_bids: int
    min_next_bid: Decimal


@dataclass(frozen=True, slots=True)
class Outbid:
    """``bidder`` lost the lead to the bid with event number ``seq``, at ``price``."""

    bidder: Bidder
    price: Decimal
    seq: int


@dataclass(frozen=True, slots=True)
class Decision:
    before: AuctionState
    after: AuctionState
    outcomes: list[Outcome]
    bids: list[RecordedBid] = field(default_factory=list)
    events: list[NewBidEvent] = field(default_factory=list)
    outbid: list[Outbid] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.bids)


def refuse_all(reason: Reason, attempts: Sequence[Attempt]) -> list[Outcome]:
    return [refusal(reason) for _ in attempts]


def _same_bid(prior: Prior, auction_id: int, attempt: Attempt) -> bool:
    return prior.auction_id == auction_id and prior.amount == attempt.amount


def decide(state: AuctionState, attempts: Sequence[Attempt], now: datetime) -> Decision:
    """Decide ``attempts`` (arrival order) against ``state`` at database time ``now``.

    Checks run in the customer's order: not blocked, auction active, not the seller, then the
    amount. Every accepted bid is stamped no earlier than the bid before it, so stored bids
    sorted by time (then id) are in acceptance order. A refused attempt changes nothing.
    """
    current = state
    stamp = max(now, state.last_bid_time) if state.last_bid_time is not None else now
    outcomes: list[Outcome] = []
    bids: list[RecordedBid] = []
    events: list[NewBidEvent] = []
    outbid: list[Outbid] = []
    keyed: dict[tuple[int, str], Prior] = {}
    for attempt in attempts:
        prior = attempt.prior
        if attempt.key is not None and prior is None:
            prior = keyed.get((attempt.bidder.id, attempt.key))
        if prior is not None:
            same = _same_bid(prior, state.auction_id, attempt)
            outcomes.append(prior.outcome if same else refusal(Reason.idempotency_conflict))
            continue
        outcome: Outcome
        if attempt.blocked:
            outcome = refusal(Reason.blocked)
        elif not current.is_open(now):
            outcome = refusal(Reason.not_active)
        elif attempt.bidder.id == current.seller_id:
            outcome = refusal(Reason.own_auction)
        elif attempt.amount < current.min_next_bid():
            outcome = refusal(Reason.too_low, current.current_price)
        else:
            seq, count = current.seq + 1, current.bid_count + 1
            bid = RecordedBid(attempt.bidder, attempt.amount, stamp, seq)
            bids.append(bid)
            if current.leader is not None and current.leader.id != attempt.bidder.id:
                outbid.append(Outbid(current.leader, attempt.amount, seq))
            current = replace(
                current,
                current_price=attempt.amount,
                bid_count=count,
                seq=seq,
                leader=attempt.bidder,
                last_bid_time=stamp,
            )
            events.append(
                NewBidEvent(
                    seq=seq,
                    bidder=attempt.bidder.username,
                    amount=attempt.amount,
                    time=stamp,
                    auto=False,
                    total_bids=count,
                    min_next_bid=current.min_next_bid(),
                )
            )
            outcome = Accepted(
                amount=attempt.amount,
                current_price=attempt.amount,
                is_leading=True,
                seq=seq,
                time=stamp,
            )
        outcomes.append(outcome)
        if attempt.key is not None:
            keyed[(attempt.bidder.id, attempt.key)] = Prior(
                state.auction_id, attempt.amount, outcome
            )
    return Decision(state, current, outcomes, bids, events, outbid)
