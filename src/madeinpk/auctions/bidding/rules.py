"""The bidding rules: one pure function from an auction's state and the bid attempts that reached
it, in arrival order, to what happens. No I/O, no clock of its own.

REST and WebSocket bids, one at a time or a batch of a hundred, are all decided here; the caller
writes what the decision lists in one transaction and publishes its events after commit. A
refusal is explained from the same decision that refused it, never by reading again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import Enum

import msgspec

from madeinpk.auctions.bidding.buy_now import Bought, Purchase, buy_now_refusal
from madeinpk.auctions.bidding.decided import Event as Event
from madeinpk.auctions.bidding.decided import ExtendedEvent as ExtendedEvent
from madeinpk.auctions.bidding.decided import NewBidEvent as NewBidEvent
from madeinpk.auctions.bidding.decided import Outbid as Outbid
from madeinpk.auctions.bidding.decided import RecordedBid as RecordedBid
from madeinpk.auctions.bidding.refusals import Reason, Refused, refusal
from madeinpk.money import CENT


class AuctionStatus(str, Enum):
    """An auction's ``status`` column; only an ``active`` one takes bids. A ``scheduled`` one
    has its ``start_time`` ahead: it opens (``auction_started``) when that time comes."""

    scheduled = "scheduled"
    active = "active"
    ended = "ended"
    cancelled = "cancelled"
    completed = "completed"


class Accepted(msgspec.Struct, frozen=True, tag="accepted"):
    """The bidder's recorded bid (``amount``, event ``bid_seq``; ``bid_id`` is the stored row,
    filled in once written), or with ``max_only`` a leader's raised maximum and no bid.
    ``current_price``, ``is_leading`` and ``seq`` are as this attempt's decision left them."""

    amount: Decimal
    current_price: Decimal
    is_leading: bool
    seq: int
    time: datetime
    bid_seq: int = 0
    bid_id: int = 0
    max_amount: Decimal | None = None
    max_only: bool = False


Outcome = Accepted | Bought | Refused


@dataclass(frozen=True, slots=True)
class Bidder:
    id: int
    username: str
    email: str
    language: str = "en"  # of the outbid notice and email written to them


@dataclass(frozen=True, slots=True)
class Prior:
    """The first outcome of this attempt's idempotency key, when it was used before."""

    auction_id: int
    amount: Decimal
    max_amount: Decimal | None
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class Attempt:
    bidder: Bidder
    amount: Decimal
    max_amount: Decimal | None = None  # a secret ceiling for automatic (proxy) bids
    blocked: bool = False
    key: str | None = None  # the client's idempotency key (``bid_id`` / ``Idempotency-Key``)
    prior: Prior | None = None
    buy_now: bool = False  # Buy It Now: ``amount`` is ignored (0, so a key tells it from a bid)


# Price bands of the site-wide step (``BID_INCREMENTS``): from a price >= FROM the step is STEP.
Increments = tuple[tuple[Decimal, Decimal], ...]


def step_at(price: Decimal, fixed: Decimal | None, table: Increments) -> Decimal:
    """The smallest step a bid must add at ``price``: the auction's own, else the site's band,
    else one paisa (the customer's rule, "higher than the current price")."""
    if fixed is not None:
        return fixed
    step = CENT
    for start, band_step in table:
        if price >= start:
            step = band_step
    return step


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
    leader_max: Decimal | None = None  # the leader's secret ceiling; never leaves the server
    min_increment: Decimal | None = None
    increments: Increments = ()
    soft_close_seconds: int = 0
    reserve_price: Decimal | None = None
    buy_now_price: Decimal | None = None  # Buy It Now; None: none

    def is_open(self, now: datetime) -> bool:
        return self.status == AuctionStatus.active and self.start_time <= now < self.end_time

    def not_started(self, now: datetime) -> bool:
        """Scheduled and waiting for its start time (``not_started``, not ``not_active``)."""
        return self.status == AuctionStatus.scheduled and now < self.start_time

    def due_to_start(self, now: datetime) -> bool:
        """Scheduled and its start time has come: it must open (``lifecycle.starts``) before
        any bid is decided on it; the bid desk does so itself when the start task is late."""
        return self.status == AuctionStatus.scheduled and self.start_time <= now

    def step(self, price: Decimal) -> Decimal:
        return step_at(price, self.min_increment, self.increments)

    def increment(self) -> Decimal:
        """The step in force now."""
        return self.step(self.current_price)

    def min_next_bid(self) -> Decimal:
        return self.current_price + self.increment()

    def standing_max(self) -> Decimal:
        """M of the rules: the leader's maximum, or its leading amount when it set none."""
        if self.leader is None:
            return self.current_price
        return max(self.leader_max or self.current_price, self.current_price)

    def reserve_met(self) -> bool | None:
        if self.reserve_price is None:
            return None
        return self.current_price >= self.reserve_price


@dataclass(frozen=True, slots=True)
class Decision:
    before: AuctionState
    after: AuctionState
    outcomes: list[Outcome]
    bids: list[RecordedBid] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    outbid: list[Outbid] = field(default_factory=list)
    purchase: Purchase | None = None  # at most one: the auction has ended after it
    # A leader's raised maximum that belongs to the bid winning before this decision (stored).
    raised_winning: Decimal | None = None

    @property
    def changed(self) -> bool:
        """Anything to write: bids, or only a leader's raised maximum."""
        return self.after != self.before

    @property
    def extended(self) -> bool:
        return self.after.end_time != self.before.end_time


def _same_bid(prior: Prior, auction_id: int, attempt: Attempt) -> bool:
    return (
        prior.auction_id == auction_id
        and prior.amount == attempt.amount
        and prior.max_amount == attempt.max_amount
    )


class _Book:
    """One decision in progress: the state as it moves, and what it has recorded."""

    def __init__(self, state: AuctionState, now: datetime) -> None:
        self.state = state
        self.stamp = max(now, state.last_bid_time) if state.last_bid_time is not None else now
        self.bids: list[RecordedBid] = []
        self.events: list[Event] = []
        self.outbid: list[Outbid] = []
        self.purchase: Purchase | None = None
        self.raised_winning: Decimal | None = None

    def record(
        self,
        bidder: Bidder,
        amount: Decimal,
        leader_max: Decimal,
        auto: bool,
        notify: bool = True,
        max_amount: Decimal | None = None,
    ) -> int:
        """A bid at ``amount``, leading as it is recorded; the one it displaced is told (unless
        the lead comes straight back to it). Returns the bid's event number."""
        state = self.state
        if notify and state.leader is not None and state.leader.id != bidder.id:
            self.outbid.append(Outbid(state.leader, amount, state.seq + 1))
        seq, count = state.seq + 1, state.bid_count + 1
        state = replace(
            state,
            current_price=amount,
            bid_count=count,
            seq=seq,
            leader=bidder,
            leader_max=leader_max,
            last_bid_time=self.stamp,
        )
        self.bids.append(RecordedBid(bidder, amount, self.stamp, seq, auto, max_amount))
        self.events.append(
            NewBidEvent(
                seq=seq,
                bidder=bidder.username,
                amount=amount,
                time=self.stamp,
                auto=auto,
                total_bids=count,
                min_next_bid=state.min_next_bid(),
            )
        )
        if state.soft_close_seconds and (
            state.end_time - self.stamp < timedelta(seconds=state.soft_close_seconds)
        ):
            state = replace(
                state,
                end_time=self.stamp + timedelta(seconds=state.soft_close_seconds),
                seq=seq + 1,
            )
            self.events.append(ExtendedEvent(seq + 1, state.end_time))
        self.state = state
        return seq

    def raise_max(self, raised: Decimal) -> None:
        """The leader's maximum, raised: kept with the winning bid, so a removal replays it."""
        self.state = replace(self.state, leader_max=raised)
        if self.bids:
            self.bids[-1] = replace(self.bids[-1], raised_max=raised)
        else:
            self.raised_winning = raised

    def lose(
        self, bidder: Bidder, amount: Decimal, answer: Decimal, max_amount: Decimal | None
    ) -> int:
        """X's bid at ``amount`` is recorded and the leader's proxy answers at ``answer`` at
        once: X is outbid (told once), the leader and its maximum stay."""
        leader, leader_max = self.state.leader, self.state.leader_max
        assert leader is not None
        seq = self.record(bidder, amount, amount, False, notify=False, max_amount=max_amount)
        self.record(leader, answer, leader_max or answer, auto=True)
        return seq


def _check(state: AuctionState, attempt: Attempt, now: datetime) -> Refused | None:
    """The customer's checks, in the customer's order, then the amount's (docs/auction-rules.md
    § 2): 1. too low, 2. below the step, 3. a maximum under the amount. The only place that
    orders them: the transports parse money and nothing else."""
    if attempt.blocked:
        return refusal(Reason.blocked)
    if not state.is_open(now):
        return refusal(Reason.not_started if state.not_started(now) else Reason.not_active)
    if attempt.bidder.id == state.seller_id:
        return refusal(Reason.own_auction)
    leader = state.leader
    raising_max = (
        attempt.max_amount is not None and leader is not None and leader.id == attempt.bidder.id
    )
    if not raising_max:  # a leader raising its maximum: checks 1-2 do not apply
        if attempt.amount <= state.current_price:
            return refusal(Reason.too_low, state.current_price)
        if attempt.amount < state.min_next_bid():
            return refusal(Reason.below_increment, state.min_next_bid())
    if attempt.max_amount is not None and attempt.max_amount < attempt.amount:
        return refusal(Reason.invalid_max_amount)
    return None


def _buy(book: _Book, attempt: Attempt, now: datetime) -> Bought:
    """Buy It Now: the auction ends at once, the buyer leading at that price."""
    state = book.state
    assert state.buy_now_price is not None
    seq, stamp = state.seq + 1, max(now, book.stamp)
    book.state = replace(
        state,
        status=AuctionStatus.ended.value,
        current_price=state.buy_now_price,
        leader=attempt.bidder,
        leader_max=None,
        seq=seq,
        end_time=stamp,
    )
    book.purchase = Purchase(attempt.bidder, state.buy_now_price, seq, stamp)
    return Bought(state.buy_now_price, seq, stamp)


def _place(book: _Book, attempt: Attempt) -> Accepted:
    """Proxy bidding (docs/auction-rules.md § 6); with no maxima anywhere, the plain rule."""
    state, bidder = book.state, attempt.bidder
    ceiling = attempt.max_amount or attempt.amount  # m
    leader = state.leader
    if leader is not None and leader.id == bidder.id:
        if attempt.max_amount is not None:  # raise the maximum only: nothing is broadcast
            raised = max(state.standing_max(), attempt.max_amount)
            book.raise_max(raised)
            return Accepted(
                amount=state.current_price,
                current_price=state.current_price,
                is_leading=True,
                seq=state.seq,
                time=book.stamp,
                max_amount=raised,
                max_only=True,
            )
        seq = book.record(bidder, attempt.amount, max(state.standing_max(), attempt.amount), False)
        return _accepted(book, seq, attempt, attempt.amount)
    standing = state.standing_max()  # M
    if leader is None or ceiling > standing:  # X takes the lead
        if leader is not None and standing > state.current_price:
            book.record(leader, standing, standing, auto=True)
        amount = max(attempt.amount, min(ceiling, standing + state.step(standing)))
        seq = book.record(bidder, amount, ceiling, False, max_amount=attempt.max_amount)
        return _accepted(book, seq, attempt, amount)
    answer = min(standing, ceiling + state.step(ceiling))  # L's proxy defends
    seq = book.lose(bidder, ceiling, answer, attempt.max_amount)
    return _accepted(book, seq, attempt, ceiling)


def _accepted(book: _Book, bid_seq: int, attempt: Attempt, amount: Decimal) -> Accepted:
    state = book.state
    return Accepted(
        amount=amount,
        current_price=state.current_price,
        is_leading=state.leader is not None and state.leader.id == attempt.bidder.id,
        seq=state.seq,
        time=book.stamp,
        bid_seq=bid_seq,
        max_amount=attempt.max_amount,
    )


def decide(state: AuctionState, attempts: Sequence[Attempt], now: datetime) -> Decision:
    """Decide ``attempts`` (arrival order) against ``state`` at database time ``now``.

    Every accepted bid is stamped no earlier than the bid before it, so stored bids sorted by
    time (then id) are in acceptance order. A refused attempt changes nothing.
    """
    book = _Book(state, now)
    outcomes: list[Outcome] = []
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
        if attempt.buy_now:
            outcome = buy_now_refusal(book.state, attempt, now) or _buy(book, attempt, now)
        else:
            outcome = _check(book.state, attempt, now) or _place(book, attempt)
        outcomes.append(outcome)
        if attempt.key is not None:
            keyed[(attempt.bidder.id, attempt.key)] = Prior(
                state.auction_id, attempt.amount, attempt.max_amount, outcome
            )
    return Decision(
        state,
        book.state,
        outcomes,
        book.bids,
        book.events,
        book.outbid,
        purchase=book.purchase,
        raised_winning=book.raised_winning,
    )
